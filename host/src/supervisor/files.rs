//! Pipeline files changed at run time: re-read every watched path, then
//! start what is new, rebuild what changed and stop what is gone. What runs
//! in the end is what the files on disk say now, whatever the order of the
//! edits (remove then re-add, A → B → A).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;

use super::{Phase, Supervisor};
use crate::events::Event;
use crate::spec::{Pipeline, expand_paths, load_file};

impl Supervisor {
    /// Re-reads the pipeline files and acts on the differences.
    pub(super) fn pipeline_files_changed(&mut self) {
        let mut on_disk = Vec::new();
        for root in self.paths.clone() {
            match expand_paths(std::slice::from_ref(&root)) {
                Ok(files) => on_disk.extend(files.into_iter().map(|f| {
                    let loaded = load_file(&f);
                    (f, loaded)
                })),
                // Only the pipelines from this path stop (they are not seen below).
                Err(e) => self.ctx.events.publish(Event::PipelineFileInvalid {
                    file: root.display().to_string(),
                    error: e.to_string(),
                    running_kept: false,
                }),
            }
        }
        // Files of known pipelines first, so a new file cannot take a running name.
        let known = |f: &PathBuf| self.entries.values().any(|e| &e.def.file == f);
        on_disk.sort_by_key(|(f, _)| !known(f));
        let mut seen: HashMap<String, PathBuf> = HashMap::new();
        let mut wanted = Vec::new();
        for (file, loaded) in on_disk {
            match loaded {
                Err(e) => {
                    let kept: Vec<String> = self
                        .entries
                        .iter()
                        .filter(|(_, e)| e.def.file == file && !matches!(e.phase, Phase::Ended))
                        .map(|(n, _)| n.clone())
                        .collect();
                    self.ctx.events.publish(Event::PipelineFileInvalid {
                        file: file.display().to_string(),
                        error: e.to_string(),
                        running_kept: !kept.is_empty(),
                    });
                    for name in kept {
                        seen.insert(name, file.clone());
                    }
                }
                Ok(p) => {
                    if let Some(first) = seen.get(&p.spec.name)
                        && *first != file
                    {
                        self.ctx.events.publish(Event::PipelineFileInvalid {
                            file: file.display().to_string(),
                            error: format!(
                                "pipeline name `{}` is already used by {}; give every pipeline a unique `name`",
                                p.spec.name,
                                first.display()
                            ),
                            running_kept: false,
                        });
                        continue;
                    }
                    seen.insert(p.spec.name.clone(), file);
                    wanted.push(p);
                }
            }
        }
        for p in wanted {
            self.want(p);
        }
        let gone: Vec<String> = self
            .entries
            .keys()
            .filter(|n| !seen.contains_key(*n))
            .cloned()
            .collect();
        for name in gone {
            self.unwant(&name);
        }
    }

    /// `p` should run as written.
    fn want(&mut self, p: Pipeline) {
        let Some(entry) = self.entries.get_mut(&p.spec.name) else {
            self.start(p);
            return;
        };
        if let Phase::Ended = entry.phase {
            if entry.def != p {
                self.start(p);
            }
            return;
        }
        if entry.desired.as_ref() == Some(&p) {
            return;
        }
        entry.desired = Some(p.clone());
        self.ctx.events.publish(Event::PipelineChanged {
            pipeline: p.spec.name.clone(),
            file: p.file.display().to_string(),
        });
        // A build in progress is dropped when it completes (it no longer
        // matches what is wanted).
        if let Phase::Running(live) = &entry.phase
            && entry.def != p
        {
            live.handle.cancel.store(true, Ordering::Relaxed);
        }
    }

    /// The pipeline `name` is in no file any more: stop it.
    fn unwant(&mut self, name: &str) {
        let Some(entry) = self.entries.get_mut(name) else {
            return;
        };
        if let Phase::Ended = entry.phase {
            self.entries.remove(name);
            return;
        }
        if entry.desired.take().is_none() {
            return;
        }
        self.ctx.events.publish(Event::PipelineRemoved {
            pipeline: name.to_string(),
            file: entry.def.file.display().to_string(),
        });
        if let Phase::Running(live) = &entry.phase {
            live.handle.cancel.store(true, Ordering::Relaxed);
        }
    }
}
