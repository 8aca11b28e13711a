//! A pipeline's life in the supervisor: a built flow starts on its own
//! thread, an ended one is restarted after a producer failure (bounded),
//! rebuilt when its file changed, or forgotten.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{
    Built, Changed, HEALTHY_INTERVAL, Live, MAX_RESENDS, Msg, Phase, Supervisor, Target, reload,
};
use crate::events::{Event, StageId, StopReason, WarningKind};
use crate::flow::{Resend, Summary};
use crate::watch::dir_of;

impl Supervisor {
    pub(super) fn built(
        &mut self,
        name: String,
        generation: u64,
        result: anyhow::Result<Box<(Built, Target)>>,
    ) {
        let Some(entry) = self.entries.get_mut(&name) else {
            return;
        };
        if entry.generation != generation {
            return;
        }
        let (built, target) = match result {
            Ok(b) => *b,
            Err(e) => {
                self.all_ok = false;
                self.ctx.events.publish(Event::PipelineNotStarted {
                    pipeline: name.clone(),
                    file: entry.def.file.display().to_string(),
                    error: format!("{e:#}"),
                });
                entry.phase = Phase::Ended;
                self.next(&name, false);
                return;
            }
        };
        if self.stopping || entry.desired.as_ref() != Some(&entry.def) {
            // Changed or removed while it was being built: never run it.
            entry.phase = Phase::Ended;
            drop(built);
            self.next(&name, true);
            return;
        }
        let p = entry.def.clone();
        let slots: Vec<reload::Slot> = p
            .source
            .plugin()
            .map(|r| (StageId::Source, r))
            .into_iter()
            .chain(
                p.transforms
                    .iter()
                    .enumerate()
                    .map(|(i, t)| (StageId::Transform(i), t)),
            )
            .zip(&built.plugins)
            .map(|((stage, r), info)| {
                reload::Slot::new(
                    stage,
                    r.path.clone(),
                    r.config.clone(),
                    r.limits.clone(),
                    &info.digest,
                )
            })
            .collect();
        let handle = built.handle.clone();
        let tx = self.tx.clone();
        let thread_name = name.clone();
        let flow = built.flow;
        let spawned = std::thread::Builder::new()
            .name(format!("pipeline-{name}"))
            .spawn(move || {
                let result = run_caught(&thread_name, || flow.run());
                let _ = tx.send(Msg::Ended {
                    name: thread_name,
                    generation,
                    result,
                });
            });
        if let Err(e) = spawned {
            self.all_ok = false;
            self.ctx.events.publish(Event::PipelineNotStarted {
                pipeline: name.clone(),
                file: p.file.display().to_string(),
                error: format!("cannot start its thread: {e}"),
            });
            if let Some(entry) = self.entries.get_mut(&name) {
                entry.phase = Phase::Ended;
            }
            return;
        }
        if let Some(entry) = self.entries.get_mut(&name) {
            entry.phase = Phase::Running(Live {
                handle,
                slots,
                started: Instant::now(),
                last_sent: 0,
            });
        }
        // Watch before announcing: a change right after the announcement
        // must not be missed; and compare once now, for a change made while
        // the pipeline was being built.
        self.watch_plugin_files();
        let dirs = p
            .transforms
            .iter()
            .chain(p.source.plugin())
            .map(|r| dir_of(&r.path))
            .collect();
        self.plugins_changed(&Changed { dirs }, Some(&name));
        self.ctx.events.publish(Event::PipelineRunning {
            pipeline: name.clone(),
            file: p.file.display().to_string(),
            plugins: built.plugins,
            brokers: target.brokers.clone(),
            embedded: target.embedded,
            topic: p.spec.sink.kafka.topic.clone(),
            acks: p.spec.sink.kafka.acks.as_str().to_string(),
            errors: p.spec.errors.as_str().to_string(),
            guarantee: crate::spec::guarantee(&p.spec).summary(),
            resumed_from: built.resumed_from,
        });
    }

    /// Tells the watcher which plugin files are in use.
    pub(super) fn watch_plugin_files(&self) {
        let files = self.entries.values().flat_map(|e| match &e.phase {
            Phase::Running(live) => live.slots.iter().map(|s| s.path.clone()).collect(),
            _ => Vec::new(),
        });
        for (file, error) in self.watcher.watch_files(files) {
            self.ctx.events.publish(Event::Warning {
                pipeline: None,
                kind: WarningKind::NotWatched,
                message: format!(
                    "{} is not watched ({error}); hot reload is off for it",
                    file.display()
                ),
            });
        }
    }

    /// A flow ended.
    pub(super) fn ended(&mut self, name: String, generation: u64, result: anyhow::Result<Summary>) {
        let Some(entry) = self.entries.get_mut(&name) else {
            return;
        };
        if entry.generation != generation {
            return;
        }
        let Phase::Running(live) = std::mem::replace(&mut entry.phase, Phase::Ended) else {
            return;
        };
        let cancelled = live.handle.cancel.load(Ordering::Relaxed);
        if let Err(e) = &result
            && let Some(resend) = e.downcast_ref::<Resend>()
            && !cancelled
            && !self.stopping
        {
            let resends = resends_after(entry.resends, live.started.elapsed());
            if resends <= MAX_RESENDS {
                entry.resends = resends;
                let restarts = resends;
                let error = resend.0.clone();
                let def = entry.desired.clone().unwrap_or_else(|| entry.def.clone());
                // Rebuild the producer and send everything after the
                // committed position again: nothing lost, duplicates possible.
                self.ctx.producers.evict_fatal();
                self.ctx.events.publish(Event::ProducerRebuilt {
                    pipeline: name.clone(),
                    error,
                    restarts,
                });
                self.start(def);
                return;
            }
        }
        let (reason, error, summary) = match result {
            Ok(s) if s.finished => (StopReason::Finished, None, Some(s)),
            Ok(s) => (StopReason::Stopped, None, Some(s)),
            Err(e) => {
                self.all_ok = false;
                (StopReason::Failed, Some(format!("{e:#}")), None)
            }
        };
        let ms = |q: f64| {
            summary
                .as_ref()
                .and_then(|s| s.latency.quantile(q))
                .map(|d| d.as_secs_f64() * 1000.0)
        };
        let position = summary
            .as_ref()
            .map(|s| s.position.clone())
            .unwrap_or_else(|| live.handle.watermark.committable());
        self.ctx.events.publish(Event::PipelineStopped {
            pipeline: name.clone(),
            reason,
            acknowledged: summary
                .as_ref()
                .map_or_else(|| live.handle.watermark.acknowledged(), |s| s.acknowledged),
            bytes: summary.as_ref().map_or(0, |s| s.bytes),
            seconds: summary
                .as_ref()
                .map_or_else(|| live.started.elapsed(), |s| s.elapsed)
                .as_secs_f64(),
            ack_p50_ms: ms(0.5),
            ack_p99_ms: ms(0.99),
            position: position.map(|p| String::from_utf8_lossy(&p).into_owned()),
            skipped: live.handle.counters.skipped.load(Ordering::Relaxed),
            dead_lettered: live.handle.counters.dead_lettered.load(Ordering::Relaxed),
            error,
        });
        self.next(&name, cancelled);
        self.watch_plugin_files();
    }

    /// After `name`'s flow ended (or was never run): start what its file
    /// wants now, or forget it. `for_change`: it was stopped because its
    /// file changed or went away (so it runs again if it is still wanted).
    pub(super) fn next(&mut self, name: &str, for_change: bool) {
        let Some(entry) = self.entries.get_mut(name) else {
            return;
        };
        match entry.desired.clone() {
            Some(d) if !self.stopping && (for_change || d != entry.def) => self.start(d),
            // Still wanted as it was: it ended on its own; a file change restarts it.
            Some(_) if !self.stopping => {}
            _ => {
                self.entries.remove(name);
            }
        }
    }
}

/// Producer rebuilds in a row, counting one more, for a pipeline that ran
/// `ran` since it last started: a healthy interval starts the count over.
fn resends_after(previous: u32, ran: Duration) -> u32 {
    if ran >= HEALTHY_INTERVAL {
        1
    } else {
        previous + 1
    }
}

/// Runs a flow, turning a panic on its thread into an error for that
/// pipeline alone.
fn run_caught(
    name: &str,
    run: impl FnOnce() -> anyhow::Result<Summary>,
) -> anyhow::Result<Summary> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Err(anyhow::anyhow!(
            "pipeline `{name}`: its thread panicked ({what}); this is a bug in Sluice, please report it"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rebuilds_count_in_a_row_and_start_over_after_a_healthy_interval() {
        assert_eq!(resends_after(0, Duration::from_secs(1)), 1);
        assert_eq!(resends_after(4, Duration::from_secs(1)), 5);
        assert_eq!(
            resends_after(5, Duration::from_secs(1)),
            6,
            "over the limit"
        );
        assert_eq!(resends_after(5, HEALTHY_INTERVAL), 1, "healthy again");
    }

    #[test]
    fn a_panicking_pipeline_thread_is_an_error_for_that_pipeline() {
        let result = run_caught("p", || panic!("boom"));
        let message = result.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            message.contains("pipeline `p`: its thread panicked (boom)"),
            "{message}"
        );
    }
}
