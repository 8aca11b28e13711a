//! One pipeline's data path, on its own thread: poll the source, run each
//! transform over the batch, hand the result to the sink, and commit the
//! source position once Kafka has acknowledged everything before it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::plugin::{Outcome, Plugin, PluginError, SourceInstance, TransformInstance, Transformed};
use crate::position::{AckTracker, PositionStore, WaitEnd};
use crate::record::{Batch, OwnedRecord};
use crate::sink::{KafkaSink, SendError};
use crate::spec::ErrorPolicy;

/// Counters of one pipeline, read by the progress reporter and `/status`.
#[derive(Debug, Default)]
pub struct Stats {
    /// Records returned by the source.
    pub polled: AtomicU64,
    /// Records handed to the producer.
    pub sent: AtomicU64,
    /// Key and value bytes handed to the producer.
    pub bytes: AtomicU64,
    /// Records dropped by transforms on purpose (emit 0).
    pub filtered: AtomicU64,
    /// Records rejected and skipped under `errors: skip`.
    pub skipped: AtomicU64,
    /// Records sent to the dead-letter topic.
    pub dead_lettered: AtomicU64,
    /// Positions written to the state directory.
    pub commits: AtomicU64,
    /// Plugin swaps that took effect.
    pub reloads: AtomicU64,
    /// Reloads refused (bad file, wrong world, config rejected, trap on open).
    pub reloads_failed: AtomicU64,
    /// New transform versions that failed on their first batches and were replaced by the old one.
    pub rollbacks: AtomicU64,
    /// A plugin of this pipeline failed too often in a row and is not called
    /// until a reload replaces it.
    pub quarantined: AtomicBool,
    /// How long the data path stood still for each plugin swap.
    pub swap_pauses: std::sync::Mutex<crate::position::LatencyHistogram>,
}

impl Stats {
    fn record_swap_pause(&self, pause: Duration) {
        self.swap_pauses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .record(pause);
    }
}

/// A request to the data path, acted on between batches.
pub enum Control {
    /// Replace transform `stage` with an instance already opened off the data path.
    SwapTransform {
        /// Index in the transform chain.
        stage: usize,
        /// The new instance.
        instance: TransformInstance,
    },
    /// Replace the source: drain, commit, reopen from the committed position.
    SwapSource {
        /// The new version, compiled and checked.
        plugin: Plugin,
        /// Its configuration.
        config: Vec<(String, String)>,
        /// Its limits.
        limits: crate::plugin::Limits,
    },
}

/// Batches a new transform version must pass before the old one is dropped.
const PROBATION_BATCHES: u32 = 3;

/// A transform in the chain, with the previous version kept while the new one is on probation.
pub struct Stage {
    /// Label for logs (the file name).
    pub label: String,
    /// The running instance.
    pub instance: TransformInstance,
    /// The version replaced by the last swap, kept until the new one passes probation.
    pub previous: Option<TransformInstance>,
    /// Batches left before `previous` is dropped.
    pub probation: u32,
}

impl Stage {
    /// A stage running `instance`.
    pub fn new(label: String, instance: TransformInstance) -> Self {
        Stage {
            label,
            instance,
            previous: None,
            probation: 0,
        }
    }
}

/// Tunables of the data path.
#[derive(Debug, Clone)]
pub struct LoopOptions {
    /// Records asked of the source per poll.
    pub batch_size: u32,
    /// Most records sent and not yet acknowledged.
    pub max_in_flight: usize,
    /// How often the acknowledged position is written.
    pub commit_interval: Duration,
    /// How long a stopping pipeline waits for outstanding acknowledgements.
    pub grace: Duration,
}

impl Default for LoopOptions {
    fn default() -> Self {
        LoopOptions {
            batch_size: 512,
            max_in_flight: 50_000,
            commit_interval: Duration::from_millis(200),
            grace: Duration::from_secs(30),
        }
    }
}

/// How a pipeline ended.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Records acknowledged by Kafka.
    pub acknowledged: u64,
    /// Value and key bytes handed to the producer.
    pub bytes: u64,
    /// How long the data path ran.
    pub elapsed: Duration,
    /// Acknowledgement latencies.
    pub latency: crate::position::LatencyHistogram,
    /// The last committed position.
    pub position: Option<Vec<u8>>,
    /// True when the source said it had no more records.
    pub finished: bool,
}

/// The pipeline's producer hit a fatal error: everything not acknowledged
/// must be produced again by a new producer, from the committed position.
#[derive(Debug, thiserror::Error)]
#[error("Kafka producer fatal error: {0}")]
pub struct ProducerFatal(pub String);

/// Attempts for a retryable plugin error before it counts as a failure.
const MAX_RETRIES: u32 = 5;

/// Everything one running pipeline owns.
pub struct PipelineLoop {
    /// Pipeline name.
    pub name: String,
    /// The source instance.
    pub source: SourceInstance,
    /// The transform chain, in order.
    pub transforms: Vec<Stage>,
    /// The sink.
    pub sink: KafkaSink,
    /// Acknowledgement tracking.
    pub tracker: Arc<AckTracker>,
    /// Position storage.
    pub store: PositionStore,
    /// Error policy.
    pub policy: ErrorPolicy,
    /// Counters.
    pub stats: Arc<Stats>,
    /// Set to stop.
    pub cancel: Arc<AtomicBool>,
    /// Tunables.
    pub options: LoopOptions,
    /// Reload requests.
    pub control: std::sync::mpsc::Receiver<Control>,
    /// The dead-letter topic under `errors: dead-letter`.
    pub dead_letter_topic: Option<String>,
    /// The sink topic (named in dead letters' headers).
    pub sink_topic: String,
    /// Dead letters of the batch being processed.
    pub dead_letters: Batch,
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(50u64 << attempt.min(6))
}

impl PipelineLoop {
    /// Runs until the source finishes, the pipeline is cancelled, or an error
    /// the error policy does not absorb. Always commits what is acknowledged.
    pub fn run(mut self) -> anyhow::Result<Summary> {
        let started = Instant::now();
        let result = self.data_path();
        let drained = self.drain();
        let summary = Summary {
            acknowledged: self.tracker.acknowledged(),
            bytes: self.stats.bytes.load(Ordering::Relaxed),
            elapsed: started.elapsed(),
            latency: self.tracker.latency(),
            position: self.tracker.committable(),
            finished: matches!(result, Ok(true)),
        };
        match (result, drained) {
            (Err(e), _) => Err(e),
            (Ok(_), Err(e)) => Err(e),
            (Ok(_), Ok(())) => Ok(summary),
        }
    }

    fn data_path(&mut self) -> anyhow::Result<bool> {
        let mut last_commit = Instant::now();
        let mut idle = 0u32;
        let mut last_polled_position: Option<Vec<u8>> = self.tracker.committable();
        loop {
            if self.cancel.load(Ordering::Relaxed) {
                return Ok(false);
            }
            while let Ok(request) = self.control.try_recv() {
                self.apply_control(request, &mut last_polled_position)?;
            }
            self.check_sink()?;
            self.send_redirects()?;
            match self
                .tracker
                .wait_in_flight_at_most(self.options.max_in_flight, Duration::from_millis(100))
            {
                WaitEnd::Ready => {}
                WaitEnd::TimedOut => continue,
                WaitEnd::Failed(_) => self.check_sink()?,
            }
            if last_commit.elapsed() >= self.options.commit_interval {
                self.commit()?;
                last_commit = Instant::now();
            }

            let polled = match self.poll_source(&last_polled_position)? {
                Some(p) => p,
                None => continue,
            };
            self.stats
                .polled
                .fetch_add(polled.records.len() as u64, Ordering::Relaxed);
            if polled.position.is_some() {
                last_polled_position.clone_from(&polled.position);
            }
            if polled.records.is_empty() {
                if polled.finished {
                    self.tracker.register(0, polled.position);
                    return Ok(true);
                }
                if polled.position.is_some() {
                    self.tracker.register(0, polled.position);
                }
                idle = (idle + 1).min(5);
                // Nothing ready: wait a little longer each empty poll (0.5..16 ms).
                std::thread::sleep(Duration::from_micros(500 << idle));
                continue;
            }
            idle = 0;
            let finished = polled.finished;
            let mut batch = polled.records;
            for stage in 0..self.transforms.len() {
                batch = self.transform(stage, batch)?;
                if batch.is_empty() {
                    break;
                }
            }
            let dead = std::mem::take(&mut self.dead_letters);
            let seq = self
                .tracker
                .register(batch.len() + dead.len(), polled.position);
            let sent = self
                .sink
                .send(&batch, seq, &self.tracker, &self.cancel)
                .and_then(|()| {
                    self.sink
                        .send_with(&dead, seq, &self.tracker, &self.cancel, ErrorPolicy::Fail)
                });
            match sent {
                Ok(()) => {}
                Err(SendError::Cancelled) => return Ok(false),
                Err(e) => bail!("pipeline `{}`: {e}", self.name),
            }
            let bytes: usize = batch
                .iter()
                .map(|r| r.key().map_or(0, <[u8]>::len) + r.value().map_or(0, <[u8]>::len))
                .sum();
            self.stats
                .sent
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
            self.stats.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
            self.stats
                .dead_lettered
                .fetch_add(dead.len() as u64, Ordering::Relaxed);
            if finished {
                return Ok(true);
            }
        }
    }

    fn poll_source(
        &mut self,
        last_position: &Option<Vec<u8>>,
    ) -> anyhow::Result<Option<crate::plugin::Polled>> {
        let mut attempt = 0;
        loop {
            match self.source.poll(self.options.batch_size) {
                Ok(p) => return Ok(Some(p)),
                Err(e) if e.is_retryable() && attempt < MAX_RETRIES => {
                    tracing::warn!(pipeline = %self.name, attempt, error = %e, "Source asked to retry");
                    std::thread::sleep(backoff(attempt));
                    attempt += 1;
                }
                Err(e @ PluginError::Trap { .. }) if self.policy != ErrorPolicy::Fail => {
                    // The Store is gone; a new instance resumes after the last
                    // records it handed over, so nothing is read twice.
                    tracing::warn!(pipeline = %self.name, error = %e, "Source trapped; re-instantiating");
                    self.source.set_resume(last_position.clone());
                    return Ok(None);
                }
                Err(e) => bail!("pipeline `{}`: source {e}", self.name),
            }
        }
    }

    fn transform(&mut self, stage: usize, mut input: Batch) -> anyhow::Result<Batch> {
        let mut attempt = 0;
        loop {
            let st = &mut self.transforms[stage];
            let (back, result) = st.instance.process(input);
            input = back;
            let retry = match &result {
                Ok(t) => t.outcomes.iter().any(|o| matches!(o, Outcome::Retry(_))),
                Err(e) => e.is_retryable(),
            };
            if retry && attempt < MAX_RETRIES {
                tracing::warn!(pipeline = %self.name, transform = %st.label, attempt, "Transform asked to retry a batch");
                std::thread::sleep(backoff(attempt));
                attempt += 1;
                continue;
            }
            if let (Err(e), true) = (&result, st.probation > 0)
                && let Some(previous) = st.previous.take()
            {
                let new_digest = st.instance.plugin().digest().to_string();
                let reason = e.to_string();
                st.instance = previous;
                st.probation = 0;
                self.stats.rollbacks.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(pipeline = %self.name, transform = %st.label, new = &new_digest[..12], %reason, "Rolled back a new transform version");
                println!(
                    "reload rolled back: pipeline `{}` transform {} ({}): new version {} failed on its first batches ({reason}); back to {}",
                    self.name,
                    stage + 1,
                    st.label,
                    &new_digest[..12],
                    &st.instance.plugin().digest()[..12]
                );
                attempt = 0;
                continue;
            }
            if st.probation > 0 {
                st.probation -= 1;
                if st.probation == 0 {
                    st.previous = None;
                }
            }
            if let Err(e) = &result
                && e.is_quarantined()
                && !self.stats.quarantined.swap(true, Ordering::Relaxed)
            {
                tracing::error!(pipeline = %self.name, transform = %st.label, error = %e, "Plugin quarantined");
                println!(
                    "pipeline `{}`: transform {} ({}) quarantined: {e}",
                    self.name,
                    stage + 1,
                    st.label
                );
            }
            return match result {
                Ok(t) => self.collect(stage, &input, t),
                Err(e) => match self.policy {
                    ErrorPolicy::DeadLetter => {
                        let label = self.transforms[stage].label.clone();
                        tracing::warn!(pipeline = %self.name, records = input.len(), error = %e, "Dead-lettered a batch the transform failed on");
                        for i in 0..input.len() {
                            if let Some(r) = input.to_owned_record(i) {
                                self.dead_letter(
                                    r,
                                    &format!("transform {}", stage + 1),
                                    &label,
                                    &e.to_string(),
                                )?;
                            }
                        }
                        Ok(Batch::default())
                    }
                    // Quarantine (issue 7): skipping would silently drop every
                    // later record, so `skip` stops; `dead-letter` keeps them above.
                    ErrorPolicy::Skip if e.is_quarantined() => Err(anyhow::anyhow!(
                        "pipeline `{}`: transform {} {e} (errors: skip would drop every later record; fix the plugin, or use `errors: dead-letter` to keep them)",
                        self.name,
                        stage + 1
                    )),
                    ErrorPolicy::Skip => {
                        tracing::warn!(pipeline = %self.name, records = input.len(), error = %e, "Skipped a batch the transform failed on");
                        self.stats
                            .skipped
                            .fetch_add(input.len() as u64, Ordering::Relaxed);
                        Ok(Batch::default())
                    }
                    ErrorPolicy::Fail => Err(anyhow::anyhow!(
                        "pipeline `{}`: transform {} {e} (errors: fail; `errors: skip` goes on without the batch)",
                        self.name,
                        stage + 1
                    )),
                },
            };
        }
    }

    /// Acts on a reload request between batches.
    fn apply_control(
        &mut self,
        request: Control,
        last_polled: &mut Option<Vec<u8>>,
    ) -> anyhow::Result<()> {
        match request {
            Control::SwapTransform { stage, instance } => {
                let paused = Instant::now();
                let Some(st) = self.transforms.get_mut(stage) else {
                    return Ok(());
                };
                let old = std::mem::replace(&mut st.instance, instance);
                let (old_digest, new_digest) = (
                    old.plugin().digest()[..12].to_string(),
                    st.instance.plugin().digest()[..12].to_string(),
                );
                // Replacing `previous` drops the version before it: part of the pause.
                st.previous = Some(old);
                st.probation = PROBATION_BATCHES;
                self.stats.quarantined.store(false, Ordering::Relaxed);
                let pause = paused.elapsed();
                self.stats.record_swap_pause(pause);
                self.stats.reloads.fetch_add(1, Ordering::Relaxed);
                println!(
                    "reload ok: pipeline `{}` transform {} ({}) {old_digest} → {new_digest}, paused {} µs",
                    self.name,
                    stage + 1,
                    st.label,
                    pause.as_micros()
                );
            }
            Control::SwapSource {
                plugin,
                config,
                limits,
            } => {
                let paused = Instant::now();
                // Everything polled so far must be acknowledged and committed,
                // so the new version starts exactly after it.
                match self.tracker.wait_drained(self.options.grace) {
                    WaitEnd::Ready => {}
                    WaitEnd::Failed(_) => return self.check_sink(),
                    WaitEnd::TimedOut => {
                        self.stats.reloads_failed.fetch_add(1, Ordering::Relaxed);
                        println!(
                            "reload failed: pipeline `{}` source: in-flight records not acknowledged within the grace period; keeping the running version",
                            self.name
                        );
                        return Ok(());
                    }
                }
                self.commit()?;
                let resume = self.tracker.committable();
                let label = crate::run::plugin_label(plugin.path());
                let old_digest = self.source.plugin().digest().to_string();
                match SourceInstance::open(&plugin, config, resume.clone(), limits, &label) {
                    Ok(new) => {
                        self.source = new;
                        *last_polled = resume;
                        let pause = paused.elapsed();
                        self.stats.record_swap_pause(pause);
                        self.stats.reloads.fetch_add(1, Ordering::Relaxed);
                        println!(
                            "reload ok: pipeline `{}` source ({label}) {} → {}, paused {} µs, resuming at {}",
                            self.name,
                            &old_digest[..12],
                            &plugin.digest()[..12],
                            pause.as_micros(),
                            last_polled
                                .as_deref()
                                .map(|p| String::from_utf8_lossy(p).into_owned())
                                .unwrap_or_else(|| "the start".into())
                        );
                    }
                    Err(e) => {
                        self.stats.reloads_failed.fetch_add(1, Ordering::Relaxed);
                        println!(
                            "reload failed: pipeline `{}` source ({label}): {e}; keeping the running version",
                            self.name
                        );
                    }
                }
            }
        }
        Ok(())
    }

    /// Turns per-input outcomes into the next stage's batch, routing rejects.
    fn collect(&mut self, stage: usize, input: &Batch, t: Transformed) -> anyhow::Result<Batch> {
        let Transformed { output, outcomes } = t;
        let mut next_start = 0u32;
        let mut in_order = true;
        for (index, outcome) in outcomes.iter().enumerate() {
            match outcome {
                Outcome::Emit { start, count } => {
                    in_order &= *start == next_start;
                    next_start = start + count;
                    if *count == 0 {
                        self.stats.filtered.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Outcome::Reject(reason) | Outcome::Retry(reason) => {
                    let label = self.transforms[stage].label.clone();
                    let label = &label;
                    match self.policy {
                        ErrorPolicy::DeadLetter => {
                            if let Some(r) = input.to_owned_record(index) {
                                self.dead_letter(
                                    r,
                                    &format!("transform {}", stage + 1),
                                    label,
                                    reason,
                                )?;
                            }
                        }
                        ErrorPolicy::Skip => {
                            tracing::warn!(pipeline = %self.name, transform = %label, record = index, %reason, "Skipped a rejected record");
                            self.stats.skipped.fetch_add(1, Ordering::Relaxed);
                        }
                        ErrorPolicy::Fail => {
                            let key = input.get(index).and_then(|r| {
                                r.key().map(|k| String::from_utf8_lossy(k).into_owned())
                            });
                            bail!(
                                "pipeline `{}`: transform {} ({label}) rejected record {index} of a batch{}: {reason}\n  help: fix the data or the plugin, or set `errors: skip` to go on without such records",
                                self.name,
                                stage + 1,
                                key.map(|k| format!(" (key {k:?})")).unwrap_or_default()
                            );
                        }
                    }
                }
            }
        }
        if in_order && next_start as usize == output.len() {
            return Ok(output);
        }
        let mut rebuilt = Batch::with_capacity(output.len(), output.arena.len());
        for outcome in &outcomes {
            if let Outcome::Emit { start, count } = outcome {
                for i in *start..start + count {
                    if let Some(r) = output.get(i as usize) {
                        rebuilt.push_ref(&r).with_context(|| {
                            format!("pipeline `{}`: transform {} output", self.name, stage + 1)
                        })?;
                    }
                }
            }
        }
        Ok(rebuilt)
    }

    /// Adds `record` to this batch's dead letters, with headers saying why.
    fn dead_letter(
        &mut self,
        mut record: OwnedRecord,
        stage: &str,
        plugin: &str,
        error: &str,
    ) -> anyhow::Result<()> {
        let Some(topic) = &self.dead_letter_topic else {
            return Ok(());
        };
        let original = record
            .topic
            .take()
            .unwrap_or_else(|| self.sink_topic.clone());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default();
        for (name, value) in [
            ("sluice.pipeline", self.name.clone()),
            ("sluice.stage", stage.to_string()),
            ("sluice.plugin", plugin.to_string()),
            ("sluice.error", error.to_string()),
            ("sluice.original.topic", original),
            ("sluice.time", now.to_string()),
        ] {
            record
                .headers
                .push((name.to_string(), Some(value.into_bytes())));
        }
        record.topic = Some(topic.clone());
        record.partition = None;
        self.dead_letters
            .push_owned(&record)
            .with_context(|| format!("pipeline `{}`: dead letters of one batch", self.name))
    }

    /// Sends records Kafka refused (under `errors: dead-letter`) to the dead-letter topic.
    fn send_redirects(&mut self) -> anyhow::Result<()> {
        for r in self.tracker.take_redirects() {
            self.dead_letter(r.record, "sink", "kafka", &r.error)?;
            let dead = std::mem::take(&mut self.dead_letters);
            match self.sink.send_with(
                &dead,
                r.batch,
                &self.tracker,
                &self.cancel,
                ErrorPolicy::Fail,
            ) {
                Ok(()) => {
                    self.stats
                        .dead_lettered
                        .fetch_add(dead.len() as u64, Ordering::Relaxed);
                }
                Err(SendError::Cancelled) => return Ok(()),
                Err(e) => bail!("pipeline `{}`: cannot send a dead letter: {e}", self.name),
            }
        }
        Ok(())
    }

    fn check_sink(&self) -> anyhow::Result<()> {
        if let Some(fatal) = self.sink.fatal_error() {
            return Err(ProducerFatal(fatal).into());
        }
        if let Some(f) = self.tracker.failure() {
            bail!(
                "pipeline `{}`: Kafka did not accept a record (batch {}, record {}): {}; its position and later ones are not committed",
                self.name,
                f.batch,
                f.record,
                f.error
            );
        }
        Ok(())
    }

    fn commit(&mut self) -> anyhow::Result<()> {
        if let Some(position) = self.tracker.take_committable() {
            self.store
                .commit(&position, self.tracker.acknowledged())
                .with_context(|| format!("pipeline `{}`: cannot commit position", self.name))?;
            self.stats.commits.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Waits for outstanding acknowledgements (bounded by the grace period),
    /// then commits the final position.
    fn drain(&mut self) -> anyhow::Result<()> {
        if self.sink.fatal_error().is_some() {
            // Nothing more will be acknowledged; keep what was.
            self.commit()?;
            return self.check_sink();
        }
        let deadline = Instant::now() + self.options.grace;
        let waited = loop {
            self.send_redirects()?;
            let left = deadline.saturating_duration_since(Instant::now());
            match self
                .tracker
                .wait_drained(left.min(Duration::from_millis(100)))
            {
                WaitEnd::TimedOut if !left.is_zero() => continue,
                other => break other,
            }
        };
        let _ = self.sink.flush(Duration::from_millis(100));
        self.commit()?;
        match waited {
            WaitEnd::Ready => Ok(()),
            WaitEnd::Failed(_) => self.check_sink(),
            WaitEnd::TimedOut => bail!(
                "pipeline `{}`: {} records still unacknowledged after the {} s grace period; their position is not committed, so they will be sent again on restart",
                self.name,
                self.tracker.in_flight(),
                self.options.grace.as_secs()
            ),
        }
    }
}
