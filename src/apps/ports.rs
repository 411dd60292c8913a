//! Host ports for an instance: the fixed ones it asks for, and for each 0 the lowest free
//! port of the node's `ports` resource (`--resources=ports:[31000-32000]`, Mesos's default),
//! so the seed's first instance answers on 31000 as in its walkthrough.

use super::definition::PortNeed;
use crate::resources::PortRange;

fn within(ranges: &[PortRange], port: u16) -> bool {
    ranges.iter().any(|r| r.begin <= port && port <= r.end)
}

/// The ports of one instance, in the order of `needs`; `taken` are held by containers already.
pub fn choose(
    needs: &[PortNeed],
    total: &[PortRange],
    taken: &[PortRange],
) -> Result<Vec<u16>, String> {
    let mut chosen: Vec<u16> = Vec::with_capacity(needs.len());
    let free =
        |p: u16, chosen: &[u16]| within(total, p) && !within(taken, p) && !chosen.contains(&p);
    // Fixed ports first, so a 0 never takes a port a later fixed one names.
    let mut out = vec![0u16; needs.len()];
    for (i, n) in needs.iter().enumerate() {
        if n.host_port != 0 {
            if !free(n.host_port, &chosen) {
                let why = if within(total, n.host_port) {
                    "in use"
                } else {
                    "outside the node's ports resource"
                };
                return Err(format!("host port {} is {why}", n.host_port));
            }
            chosen.push(n.host_port);
            out[i] = n.host_port;
        }
    }
    for (i, n) in needs.iter().enumerate() {
        if n.host_port == 0 {
            let port = total
                .iter()
                .flat_map(|r| r.begin..=r.end)
                .find(|p| free(*p, &chosen))
                .ok_or_else(|| "no free port left in the node's ports resource".to_string())?;
            chosen.push(port);
            out[i] = port;
        }
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn need(p: u16) -> PortNeed {
        PortNeed { host_port: p }
    }

    #[test]
    fn lowest_free_ports_and_fixed_ones() {
        let total = [PortRange::new(31000, 31003)];
        assert_eq!(
            choose(&[need(0), need(0)], &total, &[]).unwrap(),
            vec![31000, 31001]
        );
        let taken = [PortRange::new(31000, 31000)];
        assert_eq!(
            choose(&[need(0), need(31001)], &total, &taken).unwrap(),
            vec![31002, 31001]
        );
        assert!(choose(&[need(31000)], &total, &taken)
            .unwrap_err()
            .contains("in use"));
        assert!(choose(&[need(80)], &total, &[])
            .unwrap_err()
            .contains("outside"));
        let full = [PortRange::new(31000, 31003)];
        assert!(choose(&[need(0)], &total, &full).is_err());
        assert_eq!(choose(&[], &total, &full).unwrap(), Vec::<u16>::new());
    }
}
