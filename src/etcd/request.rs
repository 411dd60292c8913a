//! etcd v3 requests as typed values, and their JSON for the gateway (etcdserverpb's field
//! names; bytes as base64, int64 as strings, as the gateway's proto3 mapping has them).

use serde_json::{json, Map, Value};

use crate::http::base64::{encode, Alphabet};

pub type LeaseId = i64;
pub type Revision = i64;

/// A key, or the half-open range `[key, range_end)` of keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRange {
    pub key: Vec<u8>,
    /// Empty: `key` alone.
    pub range_end: Vec<u8>,
}

impl KeyRange {
    pub fn key(key: impl Into<Vec<u8>>) -> KeyRange {
        KeyRange {
            key: key.into(),
            range_end: Vec::new(),
        }
    }

    /// Every key that starts with `prefix` (every key at all for an empty one).
    pub fn prefix(prefix: impl Into<Vec<u8>>) -> KeyRange {
        let key = prefix.into();
        let range_end = prefix_end(&key);
        KeyRange { key, range_end }
    }

    fn fields(&self, into: &mut Map<String, Value>) {
        into.insert("key".into(), b64(&self.key));
        if !self.range_end.is_empty() {
            into.insert("range_end".into(), b64(&self.range_end));
        }
    }
}

/// The first key after every key with this prefix: the prefix with its last byte below 0xff
/// raised by one (what follows dropped); `\0` (etcd's "to the end") if there is none.
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

fn b64(bytes: &[u8]) -> Value {
    Value::String(encode(bytes, Alphabet::Standard))
}

fn int(n: i64) -> Value {
    Value::String(n.to_string())
}

/// A read of a key or a range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    pub keys: KeyRange,
    /// Read as of this revision (None: the latest).
    pub revision: Option<Revision>,
    /// At most this many keys (None: all).
    pub limit: Option<i64>,
}

impl Range {
    pub fn new(keys: KeyRange) -> Range {
        Range {
            keys,
            revision: None,
            limit: None,
        }
    }
}

/// One operation of a transaction (and, alone, a request of its own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Put {
        key: Vec<u8>,
        value: Vec<u8>,
        lease: Option<LeaseId>,
    },
    Range(Range),
    Delete(KeyRange),
}

impl Op {
    pub fn put(key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>, lease: Option<LeaseId>) -> Op {
        Op::Put {
            key: key.into(),
            value: value.into(),
            lease,
        }
    }

    pub fn get(key: impl Into<Vec<u8>>) -> Op {
        Op::Range(Range::new(KeyRange::key(key)))
    }

    pub fn delete(key: impl Into<Vec<u8>>) -> Op {
        Op::Delete(KeyRange::key(key))
    }

    fn body(&self) -> Value {
        let mut m = Map::new();
        match self {
            Op::Put { key, value, lease } => {
                m.insert("key".into(), b64(key));
                m.insert("value".into(), b64(value));
                if let Some(lease) = lease {
                    m.insert("lease".into(), int(*lease));
                }
            }
            Op::Range(r) => {
                r.keys.fields(&mut m);
                if let Some(rev) = r.revision {
                    m.insert("revision".into(), int(rev));
                }
                if let Some(limit) = r.limit {
                    m.insert("limit".into(), int(limit));
                }
            }
            Op::Delete(keys) => keys.fields(&mut m),
        }
        Value::Object(m)
    }

    /// The op inside a transaction's `success`/`failure` list.
    fn in_txn(&self) -> Value {
        let name = match self {
            Op::Put { .. } => "request_put",
            Op::Range(_) => "request_range",
            Op::Delete(_) => "request_delete_range",
        };
        json!({ name: self.body() })
    }
}

/// What a compare looks at, with the value it is compared to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// How many times the key was written since it was created (0: absent).
    Version(i64),
    /// The revision that created the key (0: absent).
    Create(Revision),
    /// The revision that last wrote the key.
    Mod(Revision),
    Value(Vec<u8>),
    Lease(LeaseId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareResult {
    Equal,
    NotEqual,
    Greater,
    Less,
}

/// One condition of a transaction: `key`'s `target` `result` the given value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compare {
    pub key: Vec<u8>,
    pub target: Target,
    pub result: CompareResult,
}

impl Compare {
    pub fn new(key: impl Into<Vec<u8>>, target: Target, result: CompareResult) -> Compare {
        Compare {
            key: key.into(),
            target,
            result,
        }
    }

    /// The key does not exist ("create if absent").
    pub fn absent(key: impl Into<Vec<u8>>) -> Compare {
        Compare::new(key, Target::Create(0), CompareResult::Equal)
    }

    /// The key was last written at `revision` (fencing: nobody wrote it since it was read).
    pub fn mod_revision(key: impl Into<Vec<u8>>, revision: Revision) -> Compare {
        Compare::new(key, Target::Mod(revision), CompareResult::Equal)
    }

    fn body(&self) -> Value {
        let result = match self.result {
            CompareResult::Equal => "EQUAL",
            CompareResult::NotEqual => "NOT_EQUAL",
            CompareResult::Greater => "GREATER",
            CompareResult::Less => "LESS",
        };
        let (target, field, value) = match &self.target {
            Target::Version(v) => ("VERSION", "version", int(*v)),
            Target::Create(r) => ("CREATE", "create_revision", int(*r)),
            Target::Mod(r) => ("MOD", "mod_revision", int(*r)),
            Target::Value(v) => ("VALUE", "value", b64(v)),
            Target::Lease(l) => ("LEASE", "lease", int(*l)),
        };
        json!({"key": b64(&self.key), "target": target, "result": result, field: value})
    }
}

/// If every compare holds, `success` runs, else `failure`; atomically, at one revision.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Txn {
    pub compare: Vec<Compare>,
    pub success: Vec<Op>,
    pub failure: Vec<Op>,
}

/// A request, as the client submits it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Op(Op),
    Txn(Txn),
    LeaseGrant { ttl: i64 },
    LeaseKeepAlive(LeaseId),
    LeaseRevoke(LeaseId),
}

impl Request {
    pub fn put(key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>, lease: Option<LeaseId>) -> Self {
        Request::Op(Op::put(key, value, lease))
    }

    pub fn get(key: impl Into<Vec<u8>>) -> Request {
        Request::Op(Op::get(key))
    }

    pub fn range_prefix(prefix: impl Into<Vec<u8>>) -> Request {
        Request::Op(Op::Range(Range::new(KeyRange::prefix(prefix))))
    }

    pub fn delete(key: impl Into<Vec<u8>>) -> Request {
        Request::Op(Op::delete(key))
    }

    pub fn txn(compare: Vec<Compare>, success: Vec<Op>, failure: Vec<Op>) -> Request {
        Request::Txn(Txn {
            compare,
            success,
            failure,
        })
    }

    /// The gateway's path for it (etcd 3.4 serves `/v3/`).
    pub fn path(&self) -> &'static str {
        match self {
            Request::Op(Op::Put { .. }) => "/v3/kv/put",
            Request::Op(Op::Range(_)) => "/v3/kv/range",
            Request::Op(Op::Delete(_)) => "/v3/kv/deleterange",
            Request::Txn(_) => "/v3/kv/txn",
            Request::LeaseGrant { .. } => "/v3/lease/grant",
            Request::LeaseKeepAlive(_) => "/v3/lease/keepalive",
            Request::LeaseRevoke(_) => "/v3/lease/revoke",
        }
    }

    pub fn body(&self) -> Value {
        match self {
            Request::Op(op) => op.body(),
            Request::Txn(t) => {
                let ops = |ops: &[Op]| Value::Array(ops.iter().map(Op::in_txn).collect());
                json!({
                    "compare": t.compare.iter().map(Compare::body).collect::<Vec<_>>(),
                    "success": ops(&t.success),
                    "failure": ops(&t.failure),
                })
            }
            Request::LeaseGrant { ttl } => json!({ "TTL": int(*ttl) }),
            Request::LeaseKeepAlive(id) | Request::LeaseRevoke(id) => json!({ "ID": int(*id) }),
        }
    }
}

/// A watch's creation: the range watched, from `start_revision` (0: from now).
pub fn watch_body(keys: &KeyRange, start_revision: Revision) -> Value {
    let mut m = Map::new();
    keys.fields(&mut m);
    if start_revision > 0 {
        m.insert("start_revision".into(), int(start_revision));
    }
    json!({ "create_request": Value::Object(m) })
}
