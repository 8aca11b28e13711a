//! The running pipeline (a *flow*): poll the source, run each transform over
//! the batch, hand the result to the sink, and commit the source position
//! once the sink has answered every record before it.
//!
//! A flow runs on a thread of its own and owns everything on its data path.
//! It talks to the outside only through [`Events`] (published once per batch
//! and per state change, never per record), its [`Control`] channel (plugin
//! swaps between batches) and its cancel flag. Failures are routed by the one
//! decision in [`policy`].

mod chain;
mod commit;
mod completion;
mod control;
mod dead_letter;
pub mod policy;
mod source;
mod stage;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use anyhow::bail;

pub use completion::{BatchEnd, BatchOutcome, Completion, Delivered, Failed, RecordFate};
pub use control::{Control, SourceOpener};
pub use dead_letter::{DeadLetters, ORIGINAL_SIZE_HEADER};
pub use source::{MAX_POSITION_BYTES, Origin, PluginSource, Polled, Source, Undecodable};
pub use stage::{MAX_RETRIES, PROBATION_BATCHES, Stage, Transform, sleep_unless};

use crate::events::{BatchReport, Event, Events, PipelineState, StageCounts, StageId};
use crate::plugin::PluginError;
use crate::position::{LatencyHistogram, PositionStore, WaitEnd, Watermark};
use crate::sink::{Route, SendError, Sink};
use crate::spec::ErrorPolicy;

/// Tunables of the data path.
#[derive(Debug, Clone)]
pub struct FlowOptions {
    /// Records asked of the source per poll.
    pub batch_size: u32,
    /// Most records sent and not yet answered.
    pub max_in_flight: usize,
    /// How often the acknowledged position is written.
    pub commit_interval: Duration,
    /// How long a stopping pipeline waits for outstanding acknowledgements.
    pub grace: Duration,
}

impl Default for FlowOptions {
    fn default() -> Self {
        FlowOptions {
            batch_size: 512,
            max_in_flight: 50_000,
            commit_interval: Duration::from_millis(200),
            grace: Duration::from_secs(30),
        }
    }
}

/// The few counters the supervisor's progress line reads.
#[derive(Debug, Default)]
pub struct Counters {
    /// Records handed to the sink.
    pub sent: AtomicU64,
    /// Records skipped under `errors: skip`.
    pub skipped: AtomicU64,
    /// Records sent to the dead-letter topic.
    pub dead_lettered: AtomicU64,
    /// Plugin swaps that took effect.
    pub reloads: AtomicU64,
    /// A plugin is quarantined (cleared by a swap).
    pub quarantined: AtomicBool,
}

/// How a flow ended.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Records acknowledged by Kafka.
    pub acknowledged: u64,
    /// Key, value and header bytes handed to the sink.
    pub bytes: u64,
    /// How long the data path ran.
    pub elapsed: Duration,
    /// Acknowledgement latencies.
    pub latency: LatencyHistogram,
    /// The last committed position.
    pub position: Option<Vec<u8>>,
    /// True when the source said it had no more records.
    pub finished: bool,
    /// Records skipped under `errors: skip`.
    pub skipped: u64,
    /// Records sent to the dead-letter topic.
    pub dead_lettered: u64,
}

/// Records were lost in delivery (not refused for themselves): the producer
/// must be rebuilt and everything after the committed position sent again.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Resend(pub String);

/// What a flow is built from.
pub struct FlowParts {
    /// Pipeline name.
    pub name: String,
    /// The source.
    pub source: Box<dyn Source>,
    /// The transform chain, in order.
    pub stages: Vec<Stage>,
    /// The sink.
    pub sink: Box<dyn Sink>,
    /// Where positions are committed (`None`: the source keeps them itself,
    /// told through [`Source::committed`]).
    pub store: Option<PositionStore>,
    /// The position the source was opened at.
    pub resume: Option<Vec<u8>>,
    /// Error policy.
    pub policy: ErrorPolicy,
    /// The dead-letter topic under `errors: dead-letter`.
    pub dead_letter_topic: Option<String>,
    /// The sink topic (named in dead letters).
    pub sink_topic: String,
    /// Where events go.
    pub events: Events,
    /// Tunables.
    pub options: FlowOptions,
}

/// One running pipeline's data path.
pub struct Flow {
    name: Arc<str>,
    source: Box<dyn Source>,
    stages: Vec<Stage>,
    sink: Box<dyn Sink>,
    watermark: Arc<Watermark>,
    store: Option<PositionStore>,
    policy: ErrorPolicy,
    dead_letter_topic: Option<String>,
    dead: DeadLetters,
    events: Events,
    counters: Arc<Counters>,
    cancel: Arc<AtomicBool>,
    control: mpsc::Receiver<Control>,
    options: FlowOptions,
    /// The last position the source handed over (where a reopened source resumes).
    last_polled: Option<Vec<u8>>,
    /// Counts of the batch being processed.
    report: BatchReport,
    state: PipelineState,
    bytes: u64,
    /// What the last delivery report covered.
    reported: (u64, Vec<u64>, f64),
    /// The batch being processed, when its source asked for a completion.
    tracking: Option<completion::Tracking>,
}

/// The handles a supervisor keeps on a flow it started.
#[derive(Clone)]
pub struct FlowHandle {
    /// Set to stop the flow (it drains and commits).
    pub cancel: Arc<AtomicBool>,
    /// Plugin swaps, applied between batches.
    pub control: mpsc::Sender<Control>,
    /// Its counters.
    pub counters: Arc<Counters>,
    /// Its low watermark.
    pub watermark: Arc<Watermark>,
}

impl Flow {
    /// A flow ready to [`run`](Flow::run), and the handles to steer it.
    pub fn new(parts: FlowParts) -> (Flow, FlowHandle) {
        let (control_tx, control) = mpsc::channel();
        let cancel = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(Counters::default());
        let watermark = Watermark::new(parts.resume.clone());
        let mut source = parts.source;
        source.attach(watermark.clone());
        let dead = DeadLetters::new(
            &parts.name,
            &parts.sink_topic,
            parts.sink.max_record_bytes(),
        );
        let handle = FlowHandle {
            cancel: cancel.clone(),
            control: control_tx,
            counters: counters.clone(),
            watermark: watermark.clone(),
        };
        let flow = Flow {
            name: parts.name.into(),
            source,
            stages: parts.stages,
            sink: parts.sink,
            watermark,
            store: parts.store,
            policy: parts.policy,
            dead_letter_topic: parts.dead_letter_topic,
            dead,
            events: parts.events,
            counters,
            cancel,
            control,
            options: parts.options,
            last_polled: parts.resume,
            report: BatchReport::default(),
            state: PipelineState::Starting,
            bytes: 0,
            reported: (0, Vec::new(), 0.0),
            tracking: None,
        };
        (flow, handle)
    }

    /// Runs until the source finishes, the flow is cancelled, or an error the
    /// error policy does not absorb. Always commits what is acknowledged.
    pub fn run(mut self) -> anyhow::Result<Summary> {
        let started = Instant::now();
        self.set_state(PipelineState::Running, None);
        let result = self.data_path();
        self.set_state(PipelineState::Stopping, None);
        let drained = self.drain(result.is_ok());
        // Records still waiting for a decision are not decided now: drop
        // them (and their batches' completions, which then say so).
        drop(self.watermark.take_undelivered());
        self.watermark.abandon_receipts();
        self.report_delivery();
        let summary = Summary {
            acknowledged: self.watermark.acknowledged(),
            bytes: self.bytes,
            elapsed: started.elapsed(),
            latency: self.watermark.latency().snapshot(),
            position: self.watermark.committable(),
            finished: matches!(result, Ok(true)),
            skipped: self.counters.skipped.load(Ordering::Relaxed),
            dead_lettered: self.counters.dead_lettered.load(Ordering::Relaxed),
        };
        result.and(drained).map(|_| summary)
    }

    fn set_state(&mut self, state: PipelineState, reason: Option<String>) {
        if self.state != state {
            self.state = state;
            self.events.publish(Event::PipelineState {
                pipeline: self.name.to_string(),
                state,
                reason,
            });
        }
    }

    fn data_path(&mut self) -> anyhow::Result<bool> {
        let mut last_commit = Instant::now();
        let mut idle = 0u32;
        loop {
            if self.cancel.load(Ordering::Relaxed) {
                return Ok(false);
            }
            while let Ok(request) = self.control.try_recv() {
                self.apply_control(request)?;
            }
            self.handle_undelivered()?;
            if let Some(fatal) = self.sink.fatal_error() {
                return Err(Resend(format!("Kafka producer fatal error: {fatal}")).into());
            }
            match self
                .watermark
                .wait_in_flight_at_most(self.options.max_in_flight, Duration::from_millis(100))
            {
                WaitEnd::Ready => {}
                WaitEnd::TimedOut | WaitEnd::Undelivered => continue,
            }
            if last_commit.elapsed() >= self.options.commit_interval {
                self.commit()?;
                self.report_delivery();
                last_commit = Instant::now();
            }
            let Some(polled) = self.poll_source()? else {
                continue;
            };
            if polled
                .position
                .as_ref()
                .is_some_and(|p| p.len() > MAX_POSITION_BYTES)
            {
                bail!(
                    "pipeline `{}`: source {} returned a position of {} bytes, over the {} KiB limit; positions must stay small (an offset, an id, a cursor): fix the plugin",
                    self.name,
                    self.source.label(),
                    polled.position.as_ref().map_or(0, Vec::len),
                    MAX_POSITION_BYTES >> 10
                );
            }
            let finished = polled.finished;
            if polled.position.is_some() {
                self.last_polled.clone_from(&polled.position);
            }
            if polled.records.is_empty()
                && polled.undecodable.is_empty()
                && polled.completion.is_none()
            {
                if let Some(p) = polled.position {
                    self.watermark.advance_to(p);
                }
                if finished {
                    return Ok(true);
                }
                if self.source.waits_in_poll() {
                    continue;
                }
                idle = (idle + 1).min(5);
                // Nothing ready: wait a little longer each empty poll (0.5..16 ms).
                sleep_unless(&self.cancel, Duration::from_micros(500 << idle));
                continue;
            }
            idle = 0;
            let Polled {
                records,
                position,
                undecodable,
                completion,
                origins,
                ..
            } = polled;
            self.report.polled += (records.len() + undecodable.len()) as u64;
            self.tracking = (completion.is_some() || !origins.is_empty())
                .then(|| completion::Tracking::new(completion, origins, records.len()));
            let batch = self
                .route_undecodable(undecodable)
                .and_then(|()| self.run_chain(records));
            let sent = batch.and_then(|b| self.send(b, position));
            if let Err(e) = sent {
                if let Some(t) = self.tracking.take() {
                    t.stopped(format!("{e:#}"));
                }
                return Err(e);
            }
            if finished {
                return Ok(true);
            }
        }
    }

    /// Sends the chain's output and the batch's dead letters under one ticket.
    fn send(
        &mut self,
        batch: crate::record::Batch,
        position: Option<Vec<u8>>,
    ) -> anyhow::Result<()> {
        let dead = self.dead.take();
        let total = batch.len() + dead.len();
        let tracking = self.tracking.take();
        if total == 0 {
            if let Some(p) = position {
                self.watermark.advance_to(p);
            }
            if let Some(t) = tracking {
                t.finish(&[]);
            }
            self.publish_batch();
            return Ok(());
        }
        let bytes = batch.arena.len() as u64;
        let ticket = match tracking {
            Some(t) if t.wants_receipts() => self.watermark.register_with_receipts(
                total,
                position,
                Box::new(move |answers| t.finish(&answers)),
            ),
            _ => self.watermark.register(total, position),
        };
        let mut sent = self
            .sink
            .send(&batch, &ticket, Route::Records, &self.cancel);
        if sent.is_ok() && !dead.is_empty() {
            sent = self.sink_dead_letters(&dead, &ticket);
        }
        match sent {
            Ok(()) => {}
            Err(SendError::Cancelled) => return Ok(()),
            Err(SendError::Fatal(f)) => {
                return Err(Resend(format!("Kafka producer fatal error: {f}")).into());
            }
        }
        self.report.sent += batch.len() as u64;
        self.report.bytes += bytes;
        self.report.dead_lettered += dead.len() as u64;
        self.counters
            .dead_lettered
            .fetch_add(dead.len() as u64, Ordering::Relaxed);
        self.bytes += bytes;
        self.counters
            .sent
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        self.publish_batch();
        Ok(())
    }

    fn sink_dead_letters(
        &self,
        dead: &crate::record::Batch,
        ticket: &crate::position::Ticket,
    ) -> Result<(), SendError> {
        match &self.dead_letter_topic {
            Some(topic) => self.sink.send(
                dead,
                &ticket.for_dead_letters(),
                Route::DeadLetters(topic),
                &self.cancel,
            ),
            None => Ok(()),
        }
    }

    fn publish_batch(&mut self) {
        let report = std::mem::take(&mut self.report);
        self.events.publish(Event::Batch {
            pipeline: self.name.clone(),
            report,
        });
    }

    /// Polls the source; `None` when the call failed in a way the policy
    /// absorbs (the source is reopened where it stands).
    fn poll_source(&mut self) -> anyhow::Result<Option<Polled>> {
        let mut attempt = 0;
        loop {
            let started = Instant::now();
            let result = self.source.poll(self.options.batch_size);
            let call_micros = started.elapsed().as_micros() as u64;
            match result {
                Ok(p) => {
                    self.report.stages.push(StageCounts {
                        stage: StageId::Source,
                        records_out: p.records.len() as u64,
                        bytes_out: p.records.arena.len() as u64,
                        call_micros,
                        ..StageCounts::default()
                    });
                    return Ok(Some(p));
                }
                Err(e) if e.is_retryable() && attempt < MAX_RETRIES => {
                    if e.discarded_instance() {
                        // Starved of CPU: the instance is gone; a new one
                        // resumes after the last records it handed over.
                        self.plugin_failed(StageId::Source, self.source.label().to_string(), &e);
                        self.source.reopen_at(self.last_polled.clone());
                    }
                    tracing::warn!(pipeline = %self.name, attempt, error = %e, "Source asked to retry");
                    sleep_unless(&self.cancel, Duration::from_millis(50u64 << attempt));
                    attempt += 1;
                }
                Err(e) => {
                    self.plugin_failed(StageId::Source, self.source.label().to_string(), &e);
                    match policy::decide(self.policy, policy::Failure::SourceFailed(&e)) {
                        policy::Action::ReopenSource => {
                            // The instance is gone; a new one resumes after the
                            // last records it handed over, so nothing is read twice.
                            tracing::warn!(pipeline = %self.name, error = %e, "Source failed; opening it again where it stood");
                            self.source.reopen_at(self.last_polled.clone());
                            return Ok(None);
                        }
                        _ => bail!("pipeline `{}`: source {e}", self.name),
                    }
                }
            }
        }
    }

    /// Publishes a failed plugin call, and the quarantine it may have caused.
    fn plugin_failed(&mut self, stage: StageId, plugin: String, e: &PluginError) {
        self.events.publish(Event::PluginFailure {
            pipeline: self.name.to_string(),
            stage,
            plugin: plugin.clone(),
            kind: e.kind().to_string(),
            error: e.to_string(),
        });
        if e.is_quarantined() && !self.counters.quarantined.swap(true, Ordering::Relaxed) {
            tracing::error!(pipeline = %self.name, %stage, plugin, error = %e, "Plugin quarantined");
            self.events.publish(Event::Quarantined {
                pipeline: self.name.to_string(),
                stage,
                plugin,
                error: e.to_string(),
            });
            self.set_state(PipelineState::Quarantined, Some(e.to_string()));
        }
    }
}

#[cfg(test)]
mod tests;
