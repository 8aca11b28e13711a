//! Health of one instance: consecutive failed calls, and the quarantine that
//! stops calling an instance that keeps failing.

use super::error::PluginError;
use super::limits::Limits;

/// Consecutive failures of one instance, and its quarantine.
#[derive(Debug, Default)]
pub(crate) struct Health {
    consecutive: u32,
    quarantined: Option<String>,
}

impl Health {
    /// Failed calls in a row.
    pub(crate) fn consecutive(&self) -> u32 {
        self.consecutive
    }

    /// True once quarantined.
    pub(crate) fn quarantined(&self) -> bool {
        self.quarantined.is_some()
    }

    /// Refuses to call a quarantined instance.
    pub(crate) fn check(&self, label: &str) -> Result<(), PluginError> {
        match &self.quarantined {
            None => Ok(()),
            Some(last) => Err(PluginError::Quarantined {
                plugin: label.to_string(),
                failures: self.consecutive,
                last: last.clone(),
            }),
        }
    }

    /// Counts a call's result; the failure that reaches the limit comes back
    /// as [`PluginError::Quarantined`]. A retryable error is the plugin asking
    /// for time, not failing, and does not count.
    pub(crate) fn record<T>(
        &mut self,
        result: Result<T, PluginError>,
        label: &str,
        limits: &Limits,
    ) -> Result<T, PluginError> {
        let e = match result {
            Ok(v) => {
                self.consecutive = 0;
                return Ok(v);
            }
            Err(e) if e.is_retryable() => return Err(e),
            Err(e) => e,
        };
        self.consecutive += 1;
        if self.consecutive < limits.max_consecutive_failures.max(1) {
            return Err(e);
        }
        let last = e.to_string();
        let last = last
            .strip_prefix(&format!("{label}: "))
            .unwrap_or(&last)
            .to_string();
        tracing::error!(plugin = label, failures = self.consecutive, error = %e, "Quarantined plugin: it will not be called again");
        self.quarantined = Some(last.clone());
        Err(PluginError::Quarantined {
            plugin: label.to_string(),
            failures: self.consecutive,
            last,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trap() -> Result<(), PluginError> {
        Err(PluginError::Trap {
            plugin: "p".into(),
            call: "process",
            kind: crate::plugin::TrapKind::Trap,
            message: "boom".into(),
        })
    }

    #[test]
    fn the_failure_that_reaches_the_limit_quarantines() {
        let limits = Limits {
            max_consecutive_failures: 2,
            ..Limits::default()
        };
        let mut h = Health::default();
        assert!(matches!(
            h.record(trap(), "p", &limits),
            Err(PluginError::Trap { .. })
        ));
        assert!(h.record(Ok(()), "p", &limits).is_ok());
        assert_eq!(h.consecutive(), 0, "a success resets the count");
        let _ = h.record(trap(), "p", &limits);
        let err = h.record(trap(), "p", &limits).unwrap_err();
        assert_eq!(
            err.to_string(),
            "p: quarantined after 2 consecutive failures (limits.max_consecutive_failures); last: process trapped: boom"
        );
        assert!(h.quarantined());
        assert_eq!(h.check("p"), Err(err));
    }

    #[test]
    fn a_retryable_error_does_not_count() {
        let mut h = Health::default();
        let retry: Result<(), _> = Err(PluginError::Call {
            plugin: "p".into(),
            call: "poll",
            retryable: true,
            message: "later".into(),
        });
        let _ = h.record(retry, "p", &Limits::default());
        assert_eq!(h.consecutive(), 0);
    }
}
