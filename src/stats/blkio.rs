//! `CgroupInfo.Blkio.Statistics` (mesos.proto): per-device I/O counters of a container, as
//! Mesos's `cgroups/blkio` isolator reports them. Each list holds one entry per device and a
//! last entry without `device`, the total.

use serde::Serialize;

use super::json::Object;

/// `CgroupInfo.Blkio.Operation`: the kernel's `Read`, `Write`, `Sync`, `Async`, `Total` columns
/// (its `Discard` column has no value in Mesos's enum and is left out).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BlkioOp {
    Unknown,
    Total,
    Read,
    Write,
    Sync,
    Async,
}

impl BlkioOp {
    pub fn name(self) -> &'static str {
        match self {
            BlkioOp::Unknown => "UNKNOWN",
            BlkioOp::Total => "TOTAL",
            BlkioOp::Read => "READ",
            BlkioOp::Write => "WRITE",
            BlkioOp::Sync => "SYNC",
            BlkioOp::Async => "ASYNC",
        }
    }

    /// The operation of a cgroupfs line (`Read`, `Total`, ...); `None` for one Mesos lacks.
    pub fn parse(word: &str) -> Option<BlkioOp> {
        Some(match word {
            "Total" => BlkioOp::Total,
            "Read" => BlkioOp::Read,
            "Write" => BlkioOp::Write,
            "Sync" => BlkioOp::Sync,
            "Async" => BlkioOp::Async,
            _ => return None,
        })
    }
}

/// `CgroupInfo.Blkio.Value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BlkioValue {
    pub op: BlkioOp,
    pub value: u64,
}

/// `Device.Number`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct DeviceNumber {
    pub major_number: u64,
    pub minor_number: u64,
}

/// `CgroupInfo.Blkio.CFQ.Statistics` (the proportional-weight schedulers' files: CFQ's
/// `blkio.*`, BFQ's `blkio.bfq.*`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CfqStatistics {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<DeviceNumber>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sectors: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_serviced: Vec<BlkioValue>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_service_bytes: Vec<BlkioValue>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_service_time: Vec<BlkioValue>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_wait_time: Vec<BlkioValue>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_merged: Vec<BlkioValue>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_queued: Vec<BlkioValue>,
}

/// `CgroupInfo.Blkio.Throttling.Statistics` (v1 `blkio.throttle.*`; v2 `io.stat`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ThrottlingStatistics {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<DeviceNumber>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_serviced: Vec<BlkioValue>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_service_bytes: Vec<BlkioValue>,
}

/// `CgroupInfo.Blkio.Statistics`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BlkioStatistics {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cfq: Vec<CfqStatistics>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cfq_recursive: Vec<CfqStatistics>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub throttling: Vec<ThrottlingStatistics>,
}

impl BlkioStatistics {
    /// Appends the JSON serde writes for this value.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        let mut o = Object::begin(out);
        o.list("cfq", &self.cfq, CfqStatistics::write_json);
        o.list(
            "cfq_recursive",
            &self.cfq_recursive,
            CfqStatistics::write_json,
        );
        o.list(
            "throttling",
            &self.throttling,
            ThrottlingStatistics::write_json,
        );
        o.end();
    }
}

impl CfqStatistics {
    fn write_json(&self, out: &mut Vec<u8>) {
        let mut o = Object::begin(out);
        device(&mut o, self.device);
        o.opt_u64("sectors", self.sectors);
        o.opt_u64("time", self.time);
        values(&mut o, "io_serviced", &self.io_serviced);
        values(&mut o, "io_service_bytes", &self.io_service_bytes);
        values(&mut o, "io_service_time", &self.io_service_time);
        values(&mut o, "io_wait_time", &self.io_wait_time);
        values(&mut o, "io_merged", &self.io_merged);
        values(&mut o, "io_queued", &self.io_queued);
        o.end();
    }
}

impl ThrottlingStatistics {
    fn write_json(&self, out: &mut Vec<u8>) {
        let mut o = Object::begin(out);
        device(&mut o, self.device);
        values(&mut o, "io_serviced", &self.io_serviced);
        values(&mut o, "io_service_bytes", &self.io_service_bytes);
        o.end();
    }
}

fn device(o: &mut Object<'_>, device: Option<DeviceNumber>) {
    if let Some(d) = device {
        let mut inner = Object::begin(o.key("device"));
        inner.u64("major_number", d.major_number);
        inner.u64("minor_number", d.minor_number);
        inner.end();
    }
}

fn values(o: &mut Object<'_>, key: &'static str, values: &[BlkioValue]) {
    o.list(key, values, |v, out| {
        let mut inner = Object::begin(out);
        inner.str("op", v.op.name());
        inner.u64("value", v.value);
        inner.end();
    });
}
