//! Checking a component's imports and exports against the world it is used as,
//! so a mismatch is refused at load with a message a plugin author can act on.

use std::path::Path;

use wasmtime::Engine;
use wasmtime::component::Component;

use super::{PluginError, PluginKind};

/// The package every plugin is built against.
pub const PACKAGE: &str = "sluice:plugin";
/// Its version.
pub const VERSION: &str = "0.1.0";

/// The interface a plugin of `kind` must export.
pub fn required_export(kind: PluginKind) -> String {
    let name = match kind {
        PluginKind::Transform => "transformer",
        PluginKind::Source => "source-plugin",
    };
    format!("{PACKAGE}/{name}@{VERSION}")
}

/// The WASI 0.2 packages the host links (see the parent module for which of
/// them need a grant). Others, such as `wasi:http`, are not provided.
const WASI_PACKAGES: &[&str] = &[
    "wasi:io/",
    "wasi:clocks/",
    "wasi:random/",
    "wasi:cli/",
    "wasi:filesystem/",
    "wasi:sockets/",
];

/// Imports the host provides: our own interfaces and WASI 0.2 (locked down:
/// no files, network or environment unless granted).
pub fn is_provided_import(name: &str) -> bool {
    name == format!("{PACKAGE}/log@{VERSION}")
        || name == format!("{PACKAGE}/types@{VERSION}")
        || (WASI_PACKAGES.iter().any(|p| name.starts_with(p)) && name.contains("@0.2."))
}

/// The grant (`dirs`, `network`) a provided import needs, if any.
pub fn grant_needed(name: &str) -> Option<&'static str> {
    super::grants::grant_needed(name)
}

/// The names a component imports and exports.
pub fn names(engine: &Engine, component: &Component) -> (Vec<String>, Vec<String>) {
    let ty = component.component_type();
    let imports = ty
        .imports(engine)
        .map(|(name, _)| name.to_string())
        .collect();
    let exports = ty
        .exports(engine)
        .map(|(name, _)| name.to_string())
        .collect();
    (imports, exports)
}

/// Refuses a component that does not fit `kind`, listing what is missing and extra.
pub fn check(
    engine: &Engine,
    component: &Component,
    path: &Path,
    kind: PluginKind,
) -> Result<(), PluginError> {
    let (imports, exports) = names(engine, component);
    let mut problems = Vec::new();
    let wanted = required_export(kind);
    if !exports.contains(&wanted) {
        let other = match kind {
            PluginKind::Transform => PluginKind::Source,
            PluginKind::Source => PluginKind::Transform,
        };
        if exports.iter().any(|e| *e == required_export(other)) {
            problems.push(format!(
                "it is a {other} plugin (exports `{}`), used here as a {kind}",
                required_export(other)
            ));
        } else {
            let ours = exports.iter().find(|e| e.starts_with(PACKAGE));
            match ours {
                Some(found) => match found.rsplit_once('@') {
                    Some((_, version)) if version != VERSION => problems.push(format!(
                        "missing export `{wanted}`: it was built against \
                         `{PACKAGE}@{version}` (exports `{found}`), and this host speaks \
                         `@{VERSION}`; rebuild it with the current SDK or language helper"
                    )),
                    _ => problems.push(format!(
                        "missing export `{wanted}` (found `{found}`: built against another \
                         version of the WIT?)"
                    )),
                },
                None => problems.push(format!("missing export `{wanted}`")),
            }
        }
    }
    for export in &exports {
        if *export != wanted && export.contains(':') && !export.starts_with("wasi:") {
            problems.push(format!("extra export `{export}`"));
        }
    }
    for import in &imports {
        if !is_provided_import(import) {
            problems.push(format!(
                "imports `{import}`, which the host does not provide"
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(PluginError::WrongWorld {
            path: path.to_path_buf(),
            expected: kind,
            problems,
        })
    }
}
