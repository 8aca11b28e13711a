// Package export_sluice_plugin_transformer implements the exported WIT interface
// sluice:plugin/transformer by handing each call to the Transformer that the plugin's
// main package registered with sluice.Register.
//
// Hand-written (wit-bindgen only generates a stub here); build.sh regenerates the
// other packages under internal/wit and keeps this file.
package export_sluice_plugin_transformer

import (
	"sluiceplugins/internal/wit/imports/sluice_plugin_transformer"
	"sluiceplugins/internal/wit/imports/sluice_plugin_types"
	"sluiceplugins/sluice"

	witTypes "go.bytecodealliance.org/pkg/wit/types"
)

// Open validates the configuration (WIT `open`).
func Open(config []witTypes.Tuple2[string, string]) witTypes.Result[witTypes.Unit, sluice_plugin_types.ConfigError] {
	return sluice.ExportOpen(config)
}

// Process transforms one batch (WIT `process`).
func Process(input sluice_plugin_types.Batch) witTypes.Result[sluice_plugin_transformer.Transformed, sluice_plugin_types.CallError] {
	return sluice.ExportProcess(input)
}
