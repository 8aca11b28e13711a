//! Test fixture: an output that is small as it crosses and huge once the host
//! copies it (dead letters, owned records). For each batch it returns
//! `records` records (default 100 000) that all point at the same bytes: the
//! value `{"id":1}` and one header `pad` whose value is a `span_kb` KB span
//! (default 600). About 5 MB cross the boundary; copying every record on its
//! own would take 60 GB. The host's output caps must count what the records
//! reference, not only what crossed.
//!
//! The first input record gets every output; the others emit none.

use sluice_plugin::transform::wire::Transformed;
use sluice_plugin::{
    Batch, CallError, Config, ConfigError, Emitter, HeaderEntry, Outcome, RecordEntry, RecordRef,
    Span, Transform,
};

/// Fans one shared span out to many records.
pub struct HostileSharedSpan {
    records: u32,
    span: u32,
}

const VALUE: &[u8] = br#"{"id":1}"#;
const NAME: &[u8] = b"pad";

impl Transform for HostileSharedSpan {
    fn open(config: &Config) -> Result<Self, ConfigError> {
        let records = config.optional_u64("records")?.unwrap_or(100_000);
        let span_kb = config.optional_u64("span_kb")?.unwrap_or(600);
        let too_big = |key: &str| ConfigError::for_key(key, format!("`{key}` is too large"));
        Ok(HostileSharedSpan {
            records: u32::try_from(records).map_err(|_| too_big("records"))?,
            span: u32::try_from(span_kb * 1000).map_err(|_| too_big("span_kb"))?,
        })
    }

    fn process(&mut self, record: RecordRef<'_>, out: &mut Emitter) -> Outcome {
        out.push_ref(&record);
        Outcome::Emit
    }

    fn process_batch(&mut self, input: Batch) -> Result<Transformed, CallError> {
        let mut arena = Vec::with_capacity(VALUE.len() + NAME.len() + self.span as usize);
        arena.extend_from_slice(VALUE);
        arena.extend_from_slice(NAME);
        arena.resize(VALUE.len() + NAME.len() + self.span as usize, b'x');
        let header = HeaderEntry {
            name: Span {
                offset: VALUE.len() as u32,
                len: NAME.len() as u32,
            },
            value: Some(Span {
                offset: (VALUE.len() + NAME.len()) as u32,
                len: self.span,
            }),
        };
        let record = RecordEntry {
            value: Some(Span {
                offset: 0,
                len: VALUE.len() as u32,
            }),
            headers_start: 0,
            headers_len: 1,
            ..RecordEntry::default()
        };
        let inputs = input.len();
        let mut emitted = vec![0; inputs];
        let records = if inputs == 0 { 0 } else { self.records };
        if let Some(first) = emitted.first_mut() {
            *first = records;
        }
        let entries = vec![record; records as usize];
        Ok(Transformed {
            output: Batch::from_entries(arena, &[header], &entries),
            emitted,
            failures: Vec::new(),
        })
    }
}

sluice_plugin::export_transform!(HostileSharedSpan);
