//! Checks built plugins: each file must be a valid WebAssembly *component*
//! whose top-level exports include the expected interface or function, and
//! prints what it imports (what the host must offer, or refuse).
//!
//! Usage: `component-check FILE=EXPORT...`, e.g.
//! `component-check dist/mask.wasm=sluice:plugin/transformer@0.2.0`.
//! Exits 1 if any file fails.

use std::process::ExitCode;

use wasmparser::{Encoding, Parser, Payload, Validator, WasmFeatures};

/// What one component imports and exports at its top level.
struct Surface {
    imports: Vec<String>,
    exports: Vec<String>,
}

fn surface(bytes: &[u8]) -> Result<Surface, String> {
    Validator::new_with_features(WasmFeatures::all())
        .validate_all(bytes)
        .map_err(|e| format!("invalid: {e}"))?;
    let mut surface = Surface {
        imports: Vec::new(),
        exports: Vec::new(),
    };
    // Nested modules and components each open with `Version` and close with
    // `End`; only depth 1 is the component's own surface.
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(|e| e.to_string())? {
            Payload::Version { encoding, .. } => {
                if depth == 0 && encoding != Encoding::Component {
                    return Err("a core module, not a component".to_owned());
                }
                depth += 1;
            }
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(reader) if depth == 1 => {
                for import in reader {
                    let import = import.map_err(|e| e.to_string())?;
                    surface.imports.push(import.name.name.to_owned());
                }
            }
            Payload::ComponentExportSection(reader) if depth == 1 => {
                for export in reader {
                    let export = export.map_err(|e| e.to_string())?;
                    surface.exports.push(export.name.name.to_owned());
                }
            }
            _ => {}
        }
    }
    Ok(surface)
}

fn main() -> ExitCode {
    let mut failed = false;
    for arg in std::env::args().skip(1) {
        let Some((path, expected)) = arg.split_once('=') else {
            eprintln!("usage: component-check FILE=EXPORT...");
            return ExitCode::from(2);
        };
        let name = std::path::Path::new(path)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.to_owned());
        let result = std::fs::read(path)
            .map_err(|e| e.to_string())
            .and_then(|bytes| surface(&bytes));
        match result {
            Err(e) => {
                failed = true;
                println!("FAIL {name:<24} {path}: {e}");
            }
            Ok(s) if !s.exports.iter().any(|e| e == expected) => {
                failed = true;
                println!(
                    "FAIL {name:<24} exports [{}], expected {expected}",
                    s.exports.join(", ")
                );
            }
            Ok(s) => {
                let imports = if s.imports.is_empty() {
                    "nothing".to_owned()
                } else {
                    s.imports.join(", ")
                };
                println!("ok   {name:<24} exports {expected}; imports {imports}");
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
