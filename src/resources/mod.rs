//! The node's resources and a container's request, Mesos style: `cpus`, `mem` (MB), `disk`
//! (MB) and `ports`, unreserved (role `*`) only. On one node the agent is its own allocator,
//! so the operations are the ones an allocator needs: fits, add, subtract, and a refusal reason.
//!
//! Scalars follow Mesos's fixed point with three decimals: every result is rounded to 0.001,
//! so `0.1 + 0.2` fits in `0.3`.

mod detect;
mod error;
mod json;
mod ranges;
mod text;

pub use detect::{detect, total, with_overrides};
pub use error::ResourcesError;
pub use ranges::{format_ranges, PortRange};

use std::fmt;

/// Scalar amounts and port ranges. `ports` is always sorted and merged.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resources {
    pub cpus: f64,
    pub mem_mb: f64,
    pub disk_mb: f64,
    pub ports: Vec<PortRange>,
}

/// The resource names mesolite knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Name {
    Cpus,
    Mem,
    Disk,
    Ports,
}

impl Name {
    fn parse(name: &str) -> Result<Name, ResourcesError> {
        match name {
            "cpus" => Ok(Name::Cpus),
            "mem" => Ok(Name::Mem),
            "disk" => Ok(Name::Disk),
            "ports" => Ok(Name::Ports),
            other => Err(ResourcesError::UnknownName(other.to_string())),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Name::Cpus => "cpus",
            Name::Mem => "mem",
            Name::Disk => "disk",
            Name::Ports => "ports",
        }
    }
}

/// Rounds to Mesos's fixed point (three decimals).
fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

fn millis(value: f64) -> i64 {
    (value * 1000.0).round() as i64
}

/// Checks a scalar from user input: finite and not negative; the result is rounded.
fn checked_scalar(name: Name, value: f64) -> Result<f64, ResourcesError> {
    if !value.is_finite() || value < 0.0 {
        return Err(ResourcesError::BadScalar {
            name: name.as_str(),
            value: value.to_string(),
        });
    }
    Ok(round3(value))
}

/// What a spec said, name by name: `None` for a name it did not mention, so `cpus:2` can
/// override detected cpus and leave the rest alone.
#[derive(Debug, Default, PartialEq)]
struct Partial {
    cpus: Option<f64>,
    mem: Option<f64>,
    disk: Option<f64>,
    ports: Option<Vec<PortRange>>,
}

impl Partial {
    /// Duplicate names are summed (ranges united), as Mesos adds resources.
    fn add_scalar(&mut self, name: Name, value: f64) {
        let slot = match name {
            Name::Cpus => &mut self.cpus,
            Name::Mem => &mut self.mem,
            Name::Disk => &mut self.disk,
            Name::Ports => return,
        };
        *slot = Some(round3(slot.unwrap_or(0.0) + value));
    }

    fn add_ranges(&mut self, ranges: &[PortRange]) {
        let current = self.ports.take().unwrap_or_default();
        self.ports = Some(ranges::union(&current, ranges));
    }

    /// The mentioned names replace those of `base`.
    fn overlay(self, base: Resources) -> Resources {
        Resources {
            cpus: self.cpus.unwrap_or(base.cpus),
            mem_mb: self.mem.unwrap_or(base.mem_mb),
            disk_mb: self.disk.unwrap_or(base.disk_mb),
            ports: self.ports.unwrap_or(base.ports),
        }
    }

    /// Text (`cpus:4;mem:64`) or, when it starts with `[`, a JSON array of `Resource`.
    fn parse_spec(spec: &str) -> Result<Partial, ResourcesError> {
        if spec.trim_start().starts_with('[') {
            let value: serde_json::Value =
                serde_json::from_str(spec).map_err(|err| ResourcesError::Json {
                    reason: err.to_string(),
                })?;
            json::parse_json(&value)
        } else {
            text::parse_text(spec)
        }
    }
}

impl Resources {
    /// Mesos text syntax: `cpus:4;mem:4096;disk:20000;ports:[31000-32000]`; `name(*)` accepted.
    pub fn parse_text(s: &str) -> Result<Resources, ResourcesError> {
        Ok(text::parse_text(s)?.overlay(Resources::default()))
    }

    /// Mesos JSON: an array of unreserved, non-revocable `Resource` objects.
    pub fn from_json(v: &serde_json::Value) -> Result<Resources, ResourcesError> {
        Ok(json::parse_json(v)?.overlay(Resources::default()))
    }

    /// Back to Mesos JSON, listing only the non-zero resources.
    pub fn to_json(&self) -> serde_json::Value {
        json::to_json(self)
    }

    /// Mesos text form, `cpus:2; mem:64; ports:[31000-31005]` (non-zero resources only;
    /// empty for nothing). It parses back with [`Resources::parse_text`].
    pub fn to_text(&self) -> String {
        text::to_text(self)
    }

    /// True if nothing is held at all.
    pub fn is_empty(&self) -> bool {
        millis(self.cpus) == 0
            && millis(self.mem_mb) == 0
            && millis(self.disk_mb) == 0
            && self.ports.is_empty()
    }

    /// True if `self` fits inside `available`; every requested port range must lie inside one
    /// available range.
    pub fn fits_in(&self, available: &Resources) -> bool {
        millis(self.cpus) <= millis(available.cpus)
            && millis(self.mem_mb) <= millis(available.mem_mb)
            && millis(self.disk_mb) <= millis(available.disk_mb)
            && ranges::contains_all(&available.ports, &self.ports)
    }

    /// Adds `other`; ports are united.
    pub fn add(&mut self, other: &Resources) {
        self.cpus = round3(self.cpus + other.cpus);
        self.mem_mb = round3(self.mem_mb + other.mem_mb);
        self.disk_mb = round3(self.disk_mb + other.disk_mb);
        self.ports = ranges::union(&self.ports, &other.ports);
    }

    /// Removes `other`; scalars stop at zero, port ranges are split around removed ports.
    pub fn subtract(&mut self, other: &Resources) {
        let minus = |a: f64, b: f64| round3((a - b).max(0.0));
        self.cpus = minus(self.cpus, other.cpus);
        self.mem_mb = minus(self.mem_mb, other.mem_mb);
        self.disk_mb = minus(self.disk_mb, other.disk_mb);
        self.ports = ranges::difference(&self.ports, &other.ports);
    }

    /// Why `self` does not fit in `available`, for a refusal message.
    pub fn shortfall(&self, available: &Resources) -> String {
        let requested = self.to_text();
        if available.is_empty() {
            return format!("Insufficient resources: requested {requested} but none are available");
        }
        format!(
            "Insufficient resources: requested {requested} but only {} are available",
            available.to_text()
        )
    }
}

impl fmt::Display for Resources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

/// A validated `--resources` value (text or JSON), kept as written so that names it does not
/// mention stay detected (see [`with_overrides`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceSpec(String);

impl ResourceSpec {
    pub fn parse(spec: &str) -> Result<ResourceSpec, ResourcesError> {
        Partial::parse_spec(spec)?;
        Ok(ResourceSpec(spec.trim().to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ResourceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;

    fn res(cpus: f64, mem_mb: f64, ports: &[(u16, u16)]) -> Resources {
        Resources {
            cpus,
            mem_mb,
            disk_mb: 0.0,
            ports: ports.iter().map(|&(b, e)| PortRange::new(b, e)).collect(),
        }
    }

    #[test]
    fn test_fits_in_with_fixed_point() {
        let mut request = res(0.1, 0.0, &[]);
        request.add(&res(0.2, 0.0, &[]));
        assert!(request.fits_in(&res(0.3, 0.0, &[])));
        assert!(!res(0.301, 0.0, &[]).fits_in(&res(0.3, 0.0, &[])));
        assert!(res(0.3004, 0.0, &[]).fits_in(&res(0.3, 0.0, &[])));
    }

    #[test]
    fn test_fits_in_each_dimension() {
        let available = Resources {
            cpus: 2.0,
            mem_mb: 1024.0,
            disk_mb: 100.0,
            ports: vec![PortRange::new(31000, 31005), PortRange::new(32000, 32010)],
        };
        assert!(res(2.0, 1024.0, &[(31000, 31005)]).fits_in(&available));
        assert!(!res(2.5, 1.0, &[]).fits_in(&available));
        assert!(!res(1.0, 1025.0, &[]).fits_in(&available));
        let mut disk = res(0.0, 0.0, &[]);
        disk.disk_mb = 101.0;
        assert!(!disk.fits_in(&available));
        assert!(!res(1.0, 1.0, &[(31005, 31006)]).fits_in(&available));
        assert!(Resources::default().fits_in(&Resources::default()));
    }

    #[test]
    fn test_add_unites_ports() {
        let mut total = res(1.0, 64.0, &[(31000, 31005)]);
        total.add(&res(0.5, 32.0, &[(31006, 31010), (40000, 40000)]));
        assert_eq!(total, res(1.5, 96.0, &[(31000, 31010), (40000, 40000)]));
    }

    #[test]
    fn test_subtract_splits_ports_and_stops_at_zero() {
        let mut available = res(2.0, 100.0, &[(31000, 32000)]);
        available.subtract(&res(0.7, 150.0, &[(31010, 31019)]));
        assert_eq!(available, res(1.3, 0.0, &[(31000, 31009), (31020, 32000)]));
        let mut back = available.clone();
        back.add(&res(0.7, 100.0, &[(31010, 31019)]));
        assert_eq!(back, res(2.0, 100.0, &[(31000, 32000)]));
    }

    #[test]
    fn test_shortfall_message() {
        let message = res(2.0, 64.0, &[]).shortfall(&res(1.5, 4000.0, &[(31000, 32000)]));
        assert_eq!(
            message,
            "Insufficient resources: requested cpus:2; mem:64 but only \
             cpus:1.5; mem:4000; ports:[31000-32000] are available"
        );
        assert!(res(1.0, 0.0, &[])
            .shortfall(&Resources::default())
            .ends_with("requested cpus:1 but none are available"));
    }

    #[test]
    fn test_resource_spec_accepts_text_and_json() {
        assert_eq!(ResourceSpec::parse(" cpus:2 ").unwrap().as_str(), "cpus:2");
        assert!(
            ResourceSpec::parse(r#"[{"name":"cpus","type":"SCALAR","scalar":{"value":1}}]"#)
                .is_ok()
        );
        assert!(matches!(
            ResourceSpec::parse("gpus:1"),
            Err(ResourcesError::UnknownName(_))
        ));
        assert!(matches!(
            ResourceSpec::parse("[{"),
            Err(ResourcesError::Json { .. })
        ));
    }
}
