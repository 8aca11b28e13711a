//! Checking a component's imports and exports against the world it is used
//! as, by their names, so a mismatch is refused at load with a message a
//! plugin author can act on.
//!
//! Names carry the contract's version (`sluice:plugin/transformer@0.2.0`), so
//! a component built for another version is named as such, with how to
//! rebuild it. Within an interface, the names of its functions and types tell
//! a component built against an unreleased draft of the same version apart
//! (a draft with other types has other type names); both are decided from
//! the component's own names, never from wasmtime's error wording.

use std::collections::BTreeSet;
use std::path::Path;

use wasmtime::Engine;
use wasmtime::component::Component;
use wasmtime::component::types::ComponentItem;

use super::error::{PluginError, PluginKind};

/// The package every plugin is built against.
pub const PACKAGE: &str = "sluice:plugin";
/// Its version.
pub const VERSION: &str = "0.2.0";

/// What to do about a component built for another version of the contract.
pub const REBUILD: &str = "rebuild it against this Sluice's `wit/`: a Rust plugin with the \
     sluice-plugin SDK of this checkout (`make plugins-rust`, or the `vendor/` a fresh \
     `sluice new` project carries), a JavaScript, Python or Go plugin with its `build.sh` and \
     the helper of this checkout (`make plugins-js plugins-python plugins-go`)";

/// The items (functions and types) of each interface of the contract, and
/// the types it uses from others: what an import or export of it may name.
/// A test checks this table against `wit/`.
const INTERFACES: &[Interface] = &[
    Interface {
        name: "types",
        own: &["batch", "config", "config-error", "call-error"],
        used: &[],
    },
    Interface {
        name: "log",
        own: &["level", "emit"],
        used: &[],
    },
    Interface {
        name: "transformer",
        own: &["failure-kind", "failure", "transformed", "open", "process"],
        used: &["batch", "config", "config-error", "call-error"],
    },
    Interface {
        name: "source-plugin",
        own: &["position", "polled", "open", "poll", "committed"],
        used: &["batch", "config", "config-error", "call-error"],
    },
];

/// One interface of the contract, by name.
struct Interface {
    name: &'static str,
    own: &'static [&'static str],
    used: &'static [&'static str],
}

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

/// `sluice:plugin/NAME@VERSION` split into the interface name and version.
fn ours(name: &str) -> Option<(&str, &str)> {
    name.strip_prefix(PACKAGE)?
        .strip_prefix('/')?
        .split_once('@')
}

/// The item names of an imported or exported instance.
fn item_names(engine: &Engine, item: &ComponentItem) -> BTreeSet<String> {
    match item {
        ComponentItem::ComponentInstance(instance) => instance
            .exports(engine)
            .map(|(name, _)| name.to_string())
            .collect(),
        _ => BTreeSet::new(),
    }
}

/// What is wrong with the items of an instance of interface `name` (of this
/// version): names the contract does not have, and (for an export) its own
/// items that are missing.
fn item_problem(name: &str, items: &BTreeSet<String>, exported: bool) -> Option<String> {
    let interface = INTERFACES.iter().find(|i| i.name == name)?;
    let known = |n: &str| interface.own.contains(&n) || interface.used.contains(&n);
    let extra: Vec<&str> = items
        .iter()
        .map(String::as_str)
        .filter(|n| !known(n))
        .collect();
    let missing: Vec<&str> = if exported {
        interface
            .own
            .iter()
            .copied()
            .filter(|n| !items.contains(*n))
            .collect()
    } else {
        Vec::new()
    };
    if extra.is_empty() && missing.is_empty() {
        return None;
    }
    let list = |names: &[&str]| {
        names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut what = Vec::new();
    if !missing.is_empty() {
        what.push(format!("lacks {}", list(&missing)));
    }
    if !extra.is_empty() {
        what.push(format!("has {}, which it does not define", list(&extra)));
    }
    Some(format!(
        "its `{PACKAGE}/{name}@{VERSION}` {} {}",
        if exported { "export" } else { "import" },
        what.join(" and ")
    ))
}

/// Refuses a component that does not fit `kind`, listing what is missing and extra.
pub fn check(
    engine: &Engine,
    component: &Component,
    path: &Path,
    kind: PluginKind,
) -> Result<(), PluginError> {
    let ty = component.component_type();
    let exports: Vec<(String, ComponentItem)> = ty
        .exports(engine)
        .map(|(name, e)| (name.to_string(), e.ty))
        .collect();
    let imports: Vec<(String, ComponentItem)> = ty
        .imports(engine)
        .map(|(name, e)| (name.to_string(), e.ty))
        .collect();
    let mut problems = Vec::new();

    // Another version of the contract, named once whatever it shows in.
    let other_version = exports
        .iter()
        .chain(&imports)
        .filter_map(|(name, _)| ours(name))
        .find(|(_, version)| *version != VERSION);
    if let Some((_, version)) = other_version {
        let shown = exports
            .iter()
            .chain(&imports)
            .map(|(name, _)| name.as_str())
            .filter(|n| ours(n).is_some_and(|(_, v)| v == version))
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ");
        problems.push(format!(
            "it was built for `{PACKAGE}@{version}` (it names {shown}), and this host runs \
             `{PACKAGE}@{VERSION}`; {REBUILD}"
        ));
    }

    // Items of this version's interfaces that the contract does not have.
    let mut drafts = Vec::new();
    let wanted = required_export(kind);
    match exports.iter().find(|(name, _)| *name == wanted) {
        Some((name, item)) => {
            let (interface, _) = ours(name).unwrap_or_default();
            drafts.extend(item_problem(interface, &item_names(engine, item), true));
        }
        None if other_version.is_some() => {}
        None => {
            let other = match kind {
                PluginKind::Transform => PluginKind::Source,
                PluginKind::Source => PluginKind::Transform,
            };
            if exports.iter().any(|(e, _)| *e == required_export(other)) {
                problems.push(format!(
                    "it is a {other} plugin (exports `{}`), used here as a {kind}",
                    required_export(other)
                ));
            } else {
                problems.push(format!("missing export `{wanted}`"));
            }
        }
    }
    for (export, _) in &exports {
        if *export != wanted
            && export.contains(':')
            && !export.starts_with("wasi:")
            && ours(export).is_none_or(|(_, v)| v == VERSION)
        {
            problems.push(format!("extra export `{export}`"));
        }
    }
    for (import, item) in &imports {
        match ours(import) {
            Some((_, version)) if version != VERSION => {} // named above
            Some((interface, _)) if is_provided_import(import) => {
                drafts.extend(item_problem(interface, &item_names(engine, item), false));
            }
            _ if is_provided_import(import) => {}
            _ => problems.push(format!(
                "imports `{import}`, which the host does not provide"
            )),
        }
    }
    if !drafts.is_empty() {
        problems.push(format!(
            "{}: it was built against another draft of `wit/`; {REBUILD}",
            drafts.join("; ")
        ));
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    /// Each interface of `wit/`: its own items and the types it uses.
    fn wit_interfaces() -> Vec<(String, BTreeSet<String>, BTreeSet<String>)> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../wit");
        let mut found = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            let mut current: Option<(String, BTreeSet<String>, BTreeSet<String>)> = None;
            let mut depth = 0;
            for line in text.lines().map(str::trim) {
                if line.starts_with("///") || line.starts_with("//") {
                    continue;
                }
                if depth == 0
                    && let Some(rest) = line.strip_prefix("interface ")
                {
                    let name = rest.trim_end_matches('{').trim().to_string();
                    current = Some((name, BTreeSet::new(), BTreeSet::new()));
                } else if depth == 1
                    && let Some((_, own, used)) = current.as_mut()
                {
                    let word = |l: &str| {
                        l.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                            .next()
                            .unwrap_or_default()
                            .to_string()
                    };
                    if let Some(list) = line.strip_prefix("use ") {
                        let inner = list.split_once('{').unwrap().1.split_once('}').unwrap().0;
                        used.extend(inner.split(',').map(|n| n.trim().to_string()));
                    } else if let Some((name, _)) = line.split_once(": func") {
                        own.insert(name.trim().to_string());
                    } else {
                        for keyword in ["record ", "enum ", "variant ", "flags ", "type "] {
                            if let Some(rest) = line.strip_prefix(keyword) {
                                own.insert(word(rest));
                            }
                        }
                    }
                }
                depth += line.matches('{').count();
                depth -= line.matches('}').count();
                if depth == 0
                    && let Some(done) = current.take()
                {
                    found.push(done);
                }
            }
        }
        found
    }

    #[test]
    fn the_item_table_matches_the_wit() {
        let wit = wit_interfaces();
        assert_eq!(wit.len(), INTERFACES.len(), "{wit:?}");
        for (name, own, used) in wit {
            let table = INTERFACES
                .iter()
                .find(|i| i.name == name)
                .unwrap_or_else(|| panic!("interface `{name}` missing from INTERFACES"));
            let set = |names: &[&str]| names.iter().map(|n| n.to_string()).collect();
            assert_eq!(own, set(table.own), "own items of `{name}`");
            assert_eq!(used, set(table.used), "types `{name}` uses");
        }
    }

    #[test]
    fn a_draft_is_told_apart_by_its_item_names() {
        let items: BTreeSet<String> = ["batch", "open", "process", "outcome", "transformed"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let problem = item_problem("transformer", &items, true).unwrap();
        assert!(
            problem.starts_with(&format!(
                "its `sluice:plugin/transformer@{VERSION}` export lacks `failure-kind`, `failure` \
                 and has `outcome`, which it does not define"
            )),
            "{problem}"
        );
        let imported: BTreeSet<String> = ["batch".to_string()].into();
        assert_eq!(item_problem("types", &imported, false), None);
    }
}
