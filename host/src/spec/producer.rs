//! Which librdkafka producer properties a pipeline may set.
//!
//! Positions are committed from delivery reports, so a property that hides
//! reports, swaps the callbacks, makes the producer transactional or breaks
//! "one key, one partition" would break what Sluice promises. Those are
//! refused at load, by name, with the reason.

use super::schema::Acks;

/// Set by the pipeline's `acks` and `brokers`, never in `producer:`.
const POLICY_OWNED: &[&str] = &[
    "acks",
    "request.required.acks",
    "enable.idempotence",
    "bootstrap.servers",
    "metadata.broker.list",
];

/// `partitioner` values that keep every record of a key on one partition.
/// The default is `murmur2_random`, the Java client's partitioner.
pub const SAFE_PARTITIONERS: &[&str] = &[
    "murmur2_random",
    "murmur2",
    "consistent_random",
    "consistent",
    "fnv1a_random",
    "fnv1a",
];

/// Why `key: value` may not be set under `acks`, as (message, hint), or
/// `None` when it may.
pub(crate) fn refusal(key: &str, value: &str, acks: Acks) -> Option<(String, String)> {
    let remove = "remove it from `producer:`".to_string();
    if POLICY_OWNED.contains(&key) {
        return Some((
            format!("producer property `{key}` is set by the pipeline, not here"),
            "use `acks: none|leader|all` and `brokers:` in the kafka sink instead".into(),
        ));
    }
    let why = match key {
        "delivery.report.only.error" => {
            "would hide successful deliveries, and Sluice commits a position only from the delivery report of every record before it".to_string()
        }
        "transactional.id" => {
            "makes the producer transactional: its records stay invisible to read_committed consumers until a commit the sink never makes, while positions move on".to_string()
        }
        "partitioner" if !SAFE_PARTITIONERS.contains(&value.trim()) => {
            return Some((
                format!(
                    "producer property `partitioner: {}` does not keep every record of a key on one partition, so order per key is lost",
                    super::tree::shorten(value)
                ),
                format!(
                    "use one of {}, or remove it (default `murmur2_random`, as Java clients)",
                    SAFE_PARTITIONERS.join(", ")
                ),
            ));
        }
        "enable.gapless.guarantee" if acks != Acks::All => {
            return Some((
                format!(
                    "producer property `enable.gapless.guarantee` needs the idempotent producer, which only `acks: all` uses (this pipeline has `acks: {}`)",
                    acks.as_str()
                ),
                "use `acks: all`, or remove it".into(),
            ));
        }
        _ if key.starts_with("dr_")
            || key.ends_with("_cb")
            || matches!(key, "opaque" | "default_topic_conf") =>
        {
            "is a callback setting; Sluice installs the producer's callbacks itself, and its delivery-report callback is what commits positions".to_string()
        }
        _ => return None,
    };
    Some((format!("producer property `{key}` {why}"), remove))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_tracking_properties_are_refused_by_name() {
        for key in [
            "delivery.report.only.error",
            "transactional.id",
            "dr_cb",
            "dr_msg_cb",
            "error_cb",
            "opaque",
            "acks",
            "enable.idempotence",
        ] {
            let (message, _) = refusal(key, "x", Acks::All).unwrap_or_else(|| panic!("{key}"));
            assert!(message.contains(&format!("`{key}")), "{message}");
        }
    }

    #[test]
    fn partitioners_that_keep_keys_together_are_allowed() {
        for p in SAFE_PARTITIONERS {
            assert_eq!(refusal("partitioner", p, Acks::All), None, "{p}");
        }
        assert!(refusal("partitioner", "random", Acks::All).is_some());
    }

    #[test]
    fn gapless_needs_acks_all() {
        assert_eq!(refusal("enable.gapless.guarantee", "true", Acks::All), None);
        assert!(refusal("enable.gapless.guarantee", "true", Acks::Leader).is_some());
        assert!(refusal("enable.gapless.guarantee", "true", Acks::None).is_some());
    }

    #[test]
    fn ordinary_tuning_is_allowed() {
        for key in [
            "linger.ms",
            "compression.type",
            "batch.size",
            "message.timeout.ms",
        ] {
            assert_eq!(refusal(key, "5", Acks::Leader), None, "{key}");
        }
    }
}
