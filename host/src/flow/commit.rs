//! Committing what the sink has answered: positions to the store (and the
//! source told), delivery reports for metrics, and the final drain.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::Flow;
use crate::events::{DeliveryReport, Event, PipelineState};
use crate::position::WaitEnd;

impl Flow {
    /// Commits the position up to which everything is resolved, if it moved.
    pub(super) fn commit(&mut self) -> anyhow::Result<()> {
        let Some(position) = self.watermark.take_committable() else {
            return Ok(());
        };
        if let Some(store) = &self.store {
            store
                .commit(&position, self.watermark.acknowledged())
                .with_context(|| format!("pipeline `{}`: cannot commit position", self.name))?;
        }
        if let Err(e) = self.source.committed(&position) {
            tracing::warn!(pipeline = %self.name, error = %e, "Source failed to take the committed position");
        }
        self.events.publish(Event::Commit {
            pipeline: self.name.to_string(),
            position: String::from_utf8_lossy(&position).into_owned(),
            acknowledged: self.watermark.acknowledged(),
        });
        Ok(())
    }

    /// Publishes what the sink saw since the last report, and the sink's reachability.
    pub(super) fn report_delivery(&mut self) {
        let acknowledged = self.watermark.acknowledged();
        let (counts, sum) = self.watermark.latency().coarse();
        let (prev_acked, prev_counts, prev_sum) = &self.reported;
        let latency_counts = counts
            .iter()
            .enumerate()
            .map(|(i, c)| c - prev_counts.get(i).copied().unwrap_or(0))
            .collect();
        let report = DeliveryReport {
            acknowledged: acknowledged - prev_acked,
            failed: 0,
            latency_counts,
            latency_sum_seconds: sum - prev_sum,
            in_flight: self.watermark.in_flight() as u64,
            producer_queue: self.sink.queue_depth(),
        };
        self.reported = (acknowledged, counts, sum);
        self.events.publish(Event::Delivery {
            pipeline: self.name.clone(),
            report,
        });
        if self.state == PipelineState::Running && !self.sink.reachable() {
            self.set_state(
                PipelineState::BrokerUnreachable,
                Some("every broker is down or unreachable".into()),
            );
        } else if self.state == PipelineState::BrokerUnreachable && self.sink.reachable() {
            self.set_state(PipelineState::Running, None);
        }
    }

    /// Waits for the sink to answer what it was given (bounded by the grace
    /// period), decides on what it did not deliver when the data path ended
    /// well, then commits the final position.
    pub(super) fn drain(&mut self, decide: bool) -> anyhow::Result<()> {
        if self.sink.fatal_error().is_some() {
            // Nothing more will be acknowledged; keep what was.
            self.commit()?;
            return Ok(());
        }
        let deadline = Instant::now() + self.options.grace;
        loop {
            // Commit as acknowledgements come, so a crash while draining
            // replays as little as possible.
            self.commit()?;
            if decide {
                if let Err(e) = self.handle_undelivered() {
                    self.commit()?;
                    return Err(e);
                }
            } else {
                // The data path failed: what was not delivered stays
                // unresolved (not committed); only wait for the rest.
                drop(self.watermark.take_undelivered());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self
                .watermark
                .wait_answered(left.min(Duration::from_millis(100)))
            {
                WaitEnd::Ready if !self.watermark.has_undelivered() => break,
                _ if left.is_zero() => break,
                _ => {}
            }
        }
        self.sink.flush(Duration::from_millis(100));
        self.commit()?;
        let unanswered = self.watermark.in_flight();
        if unanswered > 0 {
            bail!(
                "pipeline `{}`: {unanswered} records still unacknowledged after the {} s grace period; their position is not committed, so they will be sent again on restart",
                self.name,
                self.options.grace.as_secs()
            );
        }
        Ok(())
    }
}
