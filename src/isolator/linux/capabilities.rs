//! `linux/capabilities`: the capabilities a task runs with (effective) and may ever gain
//! (bounding), from `--effective_capabilities`/`--bounding_capabilities` or the container's
//! `linux_info`. A container may narrow the agent's bounding set, never widen it.

use super::super::{Feature, Isolator, IsolatorError, Plan, PrepareCtx};
use crate::launcher::CapsStep;
use crate::sys::caps::{self, CapSet, Capability};

#[derive(Debug)]
pub struct LinuxCapabilities {
    effective: Option<CapSet>,
    bounding: Option<CapSet>,
    last_cap: u32,
}

/// Capability sets that do not fit together.
#[derive(Debug)]
pub enum CapsError {
    LastCap(std::io::Error),
    /// The agent's --effective_capabilities are not within its --bounding_capabilities.
    AgentSets {
        effective: String,
        bounding: String,
    },
    /// A container's bounding set exceeds the agent's.
    BoundingExceeds {
        bounding: String,
        agent: String,
    },
    /// A container's effective set is not within its bounding set.
    EffectiveExceeds {
        effective: String,
        bounding: String,
    },
}

impl std::fmt::Display for CapsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CapsError::LastCap(e) => {
                write!(f, "Failed to read /proc/sys/kernel/cap_last_cap: {e}")
            }
            CapsError::AgentSets {
                effective,
                bounding,
            } => write!(
                f,
                "--effective_capabilities [{effective}] are not within --bounding_capabilities [{bounding}]"
            ),
            CapsError::BoundingExceeds { bounding, agent } => write!(
                f,
                "bounding capabilities [{bounding}] exceed the agent's [{agent}]"
            ),
            CapsError::EffectiveExceeds {
                effective,
                bounding,
            } => write!(
                f,
                "effective capabilities [{effective}] are not within the bounding set [{bounding}]"
            ),
        }
    }
}

impl std::error::Error for CapsError {}

impl LinuxCapabilities {
    pub fn new(
        effective: Option<&[Capability]>,
        bounding: Option<&[Capability]>,
    ) -> Result<LinuxCapabilities, CapsError> {
        let last_cap = caps::last_cap().map_err(CapsError::LastCap)?;
        let effective = effective.map(CapSet::of);
        let bounding = bounding.map(CapSet::of);
        if let (Some(e), Some(b)) = (effective, bounding) {
            if !e.is_subset_of(b) {
                return Err(CapsError::AgentSets {
                    effective: e.names(),
                    bounding: b.names(),
                });
            }
        }
        Ok(LinuxCapabilities {
            effective,
            bounding,
            last_cap,
        })
    }

    /// The sets for one container, checked against the agent's.
    fn step(
        &self,
        effective: Option<&[Capability]>,
        bounding: Option<&[Capability]>,
    ) -> Result<Option<CapsStep>, CapsError> {
        let bounding = match (bounding.map(CapSet::of), self.bounding) {
            (Some(b), Some(agent)) if !b.is_subset_of(agent) => {
                return Err(CapsError::BoundingExceeds {
                    bounding: b.names(),
                    agent: agent.names(),
                })
            }
            (Some(b), _) => Some(b),
            (None, agent) => agent,
        };
        let effective = effective.map(CapSet::of).or(self.effective);
        // As Mesos: without a bounding set, the effective set bounds the task too.
        let bounding = bounding.or(effective);
        if let (Some(e), Some(b)) = (effective, bounding) {
            if !e.is_subset_of(b) {
                return Err(CapsError::EffectiveExceeds {
                    effective: e.names(),
                    bounding: b.names(),
                });
            }
        }
        if effective.is_none() && bounding.is_none() {
            return Ok(None);
        }
        Ok(Some(CapsStep {
            bounding,
            effective,
            last_cap: self.last_cap,
        }))
    }
}

impl Isolator for LinuxCapabilities {
    fn name(&self) -> &'static str {
        "linux/capabilities"
    }

    fn serves(&self) -> &'static [Feature] {
        &[Feature::Capabilities]
    }

    fn prepare(&mut self, ctx: &PrepareCtx<'_>, plan: &mut Plan) -> Result<(), IsolatorError> {
        let linux = &ctx.container.linux;
        plan.child.capabilities = self
            .step(
                linux.effective_capabilities.as_deref(),
                linux.bounding_capabilities.as_deref(),
            )
            .map_err(IsolatorError::Capabilities)?;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;

    fn caps(names: &[&str]) -> Vec<Capability> {
        names
            .iter()
            .map(|n| Capability::parse(n).unwrap())
            .collect()
    }

    #[test]
    fn test_effective_bounds_when_no_bounding() {
        let iso = LinuxCapabilities::new(None, None).unwrap();
        assert_eq!(iso.step(None, None).unwrap(), None);
        let e = caps(&["NET_BIND_SERVICE"]);
        let step = iso.step(Some(&e), None).unwrap().unwrap();
        assert_eq!(step.effective, Some(CapSet::of(&e)));
        assert_eq!(step.bounding, Some(CapSet::of(&e)));
    }

    #[test]
    fn test_container_within_agent() {
        let agent_b = caps(&["CHOWN", "NET_RAW", "KILL"]);
        let agent_e = caps(&["CHOWN"]);
        let iso = LinuxCapabilities::new(Some(&agent_e), Some(&agent_b)).unwrap();
        // The agent's defaults.
        let step = iso.step(None, None).unwrap().unwrap();
        assert_eq!(step.effective, Some(CapSet::of(&agent_e)));
        assert_eq!(step.bounding, Some(CapSet::of(&agent_b)));
        // Narrower is fine; wider is refused.
        assert!(iso.step(Some(&caps(&["KILL"])), None).is_ok());
        let err = iso.step(None, Some(&caps(&["SYS_ADMIN"]))).unwrap_err();
        assert!(err.to_string().contains("SYS_ADMIN"), "{err}");
        let err = iso.step(Some(&caps(&["SYS_ADMIN"])), None).unwrap_err();
        assert!(err.to_string().contains("not within"), "{err}");
        assert!(LinuxCapabilities::new(Some(&agent_b), Some(&agent_e)).is_err());
    }
}
