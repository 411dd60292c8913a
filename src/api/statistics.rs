//! `/monitor/statistics`, streamed: the containers are measured a few per loop iteration and
//! each entry is written straight into the connection's output buffer by the hand-written JSON
//! writer, so a request over a thousand containers neither builds a `Value` tree nor holds the
//! loop for the whole pass.

use std::time::Instant;

use super::stream::Body;
use crate::containerizer::{ContainerId, Containerizer, UsagePass};
use crate::stats::json::Object;
use crate::stats::ResourceStatistics;

/// The entries of the containers that existed when the request came; one that ends meanwhile
/// is left out, as a TERMINATED one is.
pub(super) struct StatisticsBody {
    ids: Vec<ContainerId>,
    next: usize,
    entries: usize,
    /// One procfs walk for all the posix-measured containers of this request.
    pass: UsagePass,
    /// Reused by every file read of the request.
    buf: Vec<u8>,
}

impl StatisticsBody {
    pub fn new(cz: &dyn Containerizer) -> StatisticsBody {
        StatisticsBody {
            ids: cz.ids(),
            next: 0,
            entries: 0,
            pass: UsagePass::new(),
            buf: Vec::new(),
        }
    }
}

impl Body for StatisticsBody {
    fn produce(&mut self, cz: &dyn Containerizer, out: &mut Vec<u8>, until: Instant) -> bool {
        if self.next == 0 {
            out.push(b'[');
        }
        while let Some(id) = self.ids.get(self.next) {
            self.next += 1;
            if let Some(stats) = cz.usage(id, &self.pass, &mut self.buf) {
                if self.entries > 0 {
                    out.push(b',');
                }
                self.entries += 1;
                write_entry(out, id.as_str(), &stats);
            }
            if self.next < self.ids.len() && Instant::now() >= until {
                return false;
            }
        }
        out.push(b']');
        true
    }
}

/// One entry: the executor fields Mesos writes (see `render::executor_fields` for why they are
/// what they are), the container ID and its statistics.
fn write_entry(out: &mut Vec<u8>, id: &str, stats: &ResourceStatistics) {
    let mut e = Object::begin(out);
    e.str("container_id", id);
    e.str("executor_id", id);
    e.str("executor_name", "");
    e.str("framework_id", "");
    e.str("source", id);
    stats.write_json(e.key("statistics"));
    e.end();
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn an_entry_is_what_the_value_path_wrote() {
        let stats = ResourceStatistics {
            timestamp: 1_700_000_000.5,
            processes: Some(1),
            mem_rss_bytes: Some(4096),
            cpus_limit: Some(0.25),
            ..Default::default()
        };
        let mut out = Vec::new();
        write_entry(&mut out, "web-1", &stats);
        let mut old = super::super::render::executor_fields("web-1");
        old.insert("container_id".into(), json!("web-1"));
        old.insert("statistics".into(), json!(stats));
        assert_eq!(
            serde_json::from_slice::<Value>(&out).unwrap(),
            Value::Object(old)
        );
    }
}
