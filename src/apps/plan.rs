//! What to launch and what to kill so an app converges: scaling to `instances`, and rolling
//! instances of an old version over to the new one within `upgradeStrategy` (Marathon's
//! rules: never fewer than `ceil(minimumHealthCapacity * instances)` healthy instances while
//! old ones are replaced, never more than `instances + floor(maximumOverCapacity * instances)`
//! in all). Pure: the controller gives a view and carries the plan out.

use super::definition::{KillSelection, UpgradeStrategy};

/// One instance as the planner sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    pub key: usize,
    /// Runs the current version.
    pub current: bool,
    pub staging: bool,
    pub killing: bool,
    pub healthy: bool,
    /// Launch order (higher: younger).
    pub seq: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    pub launch: usize,
    pub kill: Vec<usize>,
}

pub fn plan(
    target: usize,
    strategy: UpgradeStrategy,
    selection: KillSelection,
    seen: &[Seen],
) -> Plan {
    let live: Vec<&Seen> = seen.iter().filter(|s| !s.killing).collect();
    let killing = seen.len() - live.len();
    // Old instances still being killed keep a roll a roll: its bound on the total holds until
    // they are gone (a plain scale replaces a killed instance at once).
    let old_killing = seen.iter().any(|s| s.killing && !s.current);
    let mut new: Vec<&Seen> = live.iter().copied().filter(|s| s.current).collect();
    let mut old: Vec<&Seen> = live.iter().copied().filter(|s| !s.current).collect();
    let mut out = Plan::default();
    // Surplus of the current version goes first: staging ones, then by the kill selection.
    let order = |v: &mut Vec<&Seen>| {
        v.sort_by_key(|s| {
            let age = match selection {
                KillSelection::YoungestFirst => u64::MAX - s.seq,
                KillSelection::OldestFirst => s.seq,
            };
            (!s.staging, s.healthy, age)
        })
    };
    if new.len() > target {
        order(&mut new);
        let surplus = new.len() - target;
        out.kill.extend(new.drain(..surplus).map(|s| s.key));
    }
    if old.is_empty() && !old_killing {
        out.launch = target - new.len();
        return out;
    }
    // A rolling upgrade.
    let min_healthy = (strategy.minimum_health_capacity * target as f64).ceil() as usize;
    let mut max_total = target + (strategy.maximum_over_capacity * target as f64).floor() as usize;
    if min_healthy >= target && max_total == target {
        // Marathon's 1/0 strategy leaves no room to move: it needs one over.
        max_total += 1;
    }
    let present = new.len() + old.len() + killing;
    out.launch = (target - new.len()).min(max_total.saturating_sub(present));
    if old.is_empty() {
        return out;
    }
    let healthy_new = new.iter().filter(|s| s.healthy).count();
    if healthy_new >= target {
        out.kill.extend(old.iter().map(|s| s.key));
        return out;
    }
    // Old instances that are not healthy hold no capacity: they go at once.
    order(&mut old);
    let mut healthy_total = healthy_new + old.iter().filter(|s| s.healthy).count();
    // Room for what must still be launched: an old instance goes when the total is at its bound.
    for s in old {
        if !s.healthy {
            out.kill.push(s.key);
        } else if healthy_total > min_healthy {
            out.kill.push(s.key);
            healthy_total -= 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inst(key: usize, current: bool, healthy: bool) -> Seen {
        Seen {
            key,
            current,
            staging: false,
            killing: false,
            healthy,
            seq: key as u64,
        }
    }

    fn strategy(m: f64, o: f64) -> UpgradeStrategy {
        UpgradeStrategy {
            minimum_health_capacity: m,
            maximum_over_capacity: o,
        }
    }

    const Y: KillSelection = KillSelection::YoungestFirst;

    #[test]
    fn scales_up_and_down() {
        let s = strategy(1.0, 1.0);
        assert_eq!(plan(3, s, Y, &[]).launch, 3);
        let two = [inst(0, true, true), inst(1, true, true)];
        assert_eq!(
            plan(3, s, Y, &two),
            Plan {
                launch: 1,
                kill: vec![]
            }
        );
        let three = [
            inst(0, true, true),
            inst(1, true, true),
            inst(2, true, true),
        ];
        // Youngest first.
        assert_eq!(
            plan(1, s, Y, &three),
            Plan {
                launch: 0,
                kill: vec![2, 1]
            }
        );
        assert_eq!(
            plan(1, s, KillSelection::OldestFirst, &three),
            Plan {
                launch: 0,
                kill: vec![0, 1]
            }
        );
        let mut staging = three;
        staging[0].staging = true;
        assert_eq!(plan(2, s, Y, &staging).kill, vec![0]);
    }

    #[test]
    fn killing_instances_are_not_counted_as_running() {
        let mut seen = [inst(0, true, true), inst(1, true, true)];
        seen[1].killing = true;
        assert_eq!(plan(2, strategy(1.0, 1.0), Y, &seen).launch, 1);
    }

    #[test]
    fn a_full_capacity_upgrade_keeps_every_old_instance_until_the_new_are_healthy() {
        let s = strategy(1.0, 1.0);
        let old = [inst(0, false, true), inst(1, false, true)];
        assert_eq!(
            plan(2, s, Y, &old),
            Plan {
                launch: 2,
                kill: vec![]
            }
        );
        let mut seen = vec![old[0], old[1], inst(2, true, false), inst(3, true, false)];
        seen[2].staging = true;
        assert_eq!(plan(2, s, Y, &seen), Plan::default());
        seen[2] = inst(2, true, true);
        // 3 healthy, 2 needed: one old may go.
        assert_eq!(plan(2, s, Y, &seen).kill.len(), 1);
        seen[3] = inst(3, true, true);
        assert_eq!(plan(2, s, Y, &seen).kill, vec![0, 1]);
    }

    #[test]
    fn half_capacity_without_room_over_replaces_in_steps() {
        let s = strategy(0.5, 0.0);
        let old: Vec<Seen> = (0..4).map(|k| inst(k, false, true)).collect();
        // 2 of 4 may go, no room to launch until they have.
        let p = plan(4, s, Y, &old);
        assert_eq!(p.launch, 0);
        assert_eq!(p.kill.len(), 2);
        let mut seen = old.clone();
        seen[3].killing = true;
        seen[2].killing = true;
        assert_eq!(plan(4, s, Y, &seen).launch, 0);
        let seen = vec![old[0], old[1]];
        let p = plan(4, s, Y, &seen);
        assert_eq!((p.launch, p.kill.len()), (2, 0));
    }

    #[test]
    fn the_last_old_instances_being_killed_still_bound_the_total() {
        // 2 new running, the last 2 old ones killing: no room until they are gone (this
        // launched 2 at once, 6 instances with maximumOverCapacity 0).
        let s = strategy(0.5, 0.0);
        let mut seen: Vec<Seen> = (0..4).map(|k| inst(k, k >= 2, true)).collect();
        seen[0].killing = true;
        seen[1].killing = true;
        assert_eq!(plan(4, s, Y, &seen), Plan::default());
        seen.remove(0);
        assert_eq!(plan(4, s, Y, &seen).launch, 1);
        // A killing instance of the current version is replaced at once, as before.
        let mut seen: Vec<Seen> = (0..4).map(|k| inst(k, true, true)).collect();
        seen[0].killing = true;
        assert_eq!(plan(4, s, Y, &seen).launch, 1);
    }

    #[test]
    fn the_strict_strategy_still_moves() {
        let s = strategy(1.0, 0.0);
        let old = [inst(0, false, true), inst(1, false, true)];
        assert_eq!(
            plan(2, s, Y, &old),
            Plan {
                launch: 1,
                kill: vec![]
            }
        );
        let seen = [old[0], old[1], inst(2, true, true)];
        assert_eq!(plan(2, s, Y, &seen).kill.len(), 1);
    }

    #[test]
    fn unhealthy_old_instances_go_at_once() {
        let seen = [inst(0, false, false), inst(1, false, true)];
        let p = plan(2, strategy(1.0, 1.0), Y, &seen);
        assert_eq!(p.kill, vec![0]);
    }
}
