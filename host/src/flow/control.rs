//! Plugin swaps, applied between two batches. The supervisor compiles and
//! checks a new version off the data path; the flow only swaps it in.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{Flow, Source, Transform};
use crate::events::{Event, PipelineState, ReloadOutcome, StageId};
use crate::plugin::PluginError;
use crate::position::WaitEnd;

/// Opens a new source version at the given resume position (the committed
/// one, known only once the running version is drained).
pub type SourceOpener =
    Box<dyn FnOnce(Option<Vec<u8>>) -> Result<Box<dyn Source>, PluginError> + Send>;

/// A request to the data path.
pub enum Control {
    /// Replace transform `stage` with an instance already opened off the data path.
    SwapTransform {
        /// Index in the chain.
        stage: usize,
        /// The new instance.
        instance: Box<dyn Transform>,
        /// Its file, as the pipeline names it.
        file: String,
    },
    /// Replace the source: drain, commit, open the new version at the committed position.
    SwapSource {
        /// Opens the new version.
        open: SourceOpener,
        /// Digest of the new version.
        digest: String,
        /// Its file, as the pipeline names it.
        file: String,
    },
}

impl Flow {
    /// Acts on a swap request between batches.
    pub(super) fn apply_control(&mut self, request: Control) -> anyhow::Result<()> {
        match request {
            Control::SwapTransform {
                stage,
                instance,
                file,
            } => {
                let paused = Instant::now();
                let Some(st) = self.stages.get_mut(stage) else {
                    return Ok(());
                };
                let (old, new) = st.swap(instance);
                let (id, label) = (st.id, st.label.clone());
                let pause = paused.elapsed();
                self.swapped();
                self.events.publish(Event::Reload {
                    pipeline: self.name.to_string(),
                    stage: id,
                    plugin: label,
                    file,
                    old_digest: old,
                    new_digest: new,
                    outcome: ReloadOutcome::Ok,
                    reason: None,
                    pause_micros: Some(pause.as_micros() as u64),
                    resumed_from: None,
                });
            }
            Control::SwapSource { open, digest, file } => {
                let paused = Instant::now();
                let old = self
                    .source
                    .plugin()
                    .map(|p| p.digest().to_string())
                    .unwrap_or_default();
                let label = self.source.label().to_string();
                let failed = |flow: &mut Flow, reason: String| {
                    flow.events.publish(Event::Reload {
                        pipeline: flow.name.to_string(),
                        stage: StageId::Source,
                        plugin: label.clone(),
                        file: file.clone(),
                        old_digest: old.clone(),
                        new_digest: digest.clone(),
                        outcome: ReloadOutcome::Failed,
                        reason: Some(reason),
                        pause_micros: None,
                        resumed_from: None,
                    });
                };
                self.set_state(PipelineState::Reloading, None);
                // Everything polled so far must be resolved, so the new
                // version starts exactly after it.
                let drained = self.drain_for_swap()?;
                self.set_state(self.steady_state(), None);
                if !drained {
                    failed(
                        self,
                        "in-flight records not acknowledged within the grace period; keeping the running version".into(),
                    );
                    return Ok(());
                }
                // Every record polled so far is resolved: the new version opens
                // right after them. Storing that position waits for the next
                // commit interval (no fsync inside the pause); a crash before
                // it replays from the previous one, as any crash does.
                let resume = self.watermark.committable();
                match open(resume.clone()) {
                    Ok(new) => {
                        self.source = new;
                        self.last_polled.clone_from(&resume);
                        let pause = paused.elapsed();
                        self.swapped();
                        self.events.publish(Event::Reload {
                            pipeline: self.name.to_string(),
                            stage: StageId::Source,
                            plugin: label.clone(),
                            file: file.clone(),
                            old_digest: old.clone(),
                            new_digest: digest.clone(),
                            outcome: ReloadOutcome::Ok,
                            reason: None,
                            pause_micros: Some(pause.as_micros() as u64),
                            resumed_from: Some(
                                resume
                                    .as_deref()
                                    .map(|p| String::from_utf8_lossy(p).into_owned())
                                    .unwrap_or_else(|| "the start".into()),
                            ),
                        });
                    }
                    Err(e) => failed(self, format!("{e}; keeping the running version")),
                }
            }
        }
        Ok(())
    }

    /// A swap took effect: it clears a quarantine.
    fn swapped(&mut self) {
        self.counters.reloads.fetch_add(1, Ordering::Relaxed);
        self.counters.quarantined.store(false, Ordering::Relaxed);
        if self.state == PipelineState::Quarantined {
            self.set_state(PipelineState::Running, None);
        }
    }

    fn steady_state(&self) -> PipelineState {
        if self.counters.quarantined.load(Ordering::Relaxed) {
            PipelineState::Quarantined
        } else {
            PipelineState::Running
        }
    }

    /// Waits (within the grace period, and only while not cancelled) until
    /// every registered batch is resolved, sending dead letters and skipping
    /// refused records meanwhile. False when it timed out or was cancelled.
    fn drain_for_swap(&mut self) -> anyhow::Result<bool> {
        let deadline = Instant::now() + self.options.grace;
        loop {
            self.handle_undelivered()?;
            if let Some(fatal) = self.sink.fatal_error() {
                return Err(super::Resend(format!("Kafka producer fatal error: {fatal}")).into());
            }
            if self.cancel.load(Ordering::Relaxed) {
                return Ok(false);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self
                .watermark
                .wait_drained(left.min(Duration::from_millis(100)))
            {
                WaitEnd::Ready => return Ok(true),
                WaitEnd::Undelivered => continue,
                WaitEnd::TimedOut if left.is_zero() => return Ok(false),
                WaitEnd::TimedOut => continue,
            }
        }
    }
}
