//! The plan of a many-rooms run: room sizes (Zipf), each client's room and node, the room of
//! each message, and from those what every node should receive from Redis and deliver.
//! Deterministic for a given seed, so a run can be checked against it, and sizes this machine
//! cannot run can be planned (`--plan-only`).

use super::{Pick, RoomsScenario};

/// SplitMix64: a small, seedable generator, enough for placement and draws.
#[derive(Debug, Clone)]
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number below `n` (`n` > 0; the modulo bias is negligible for our sizes).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Who is where, and which room each message goes to.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Members of each room, largest first.
    pub sizes: Vec<usize>,
    /// Each client's room and node.
    pub clients: Vec<(usize, usize)>,
    /// The client that speaks in each room (its first member).
    pub speakers: Vec<usize>,
    /// The room of each message, in sending order.
    pub schedule: Vec<usize>,
    /// Nodes.
    pub nodes: usize,
}

impl Plan {
    /// The plan of `s`.
    ///
    /// # Errors
    /// Fewer connections than rooms, or a zero count.
    pub fn new(s: &RoomsScenario) -> Result<Self, String> {
        if s.nodes == 0 || s.rooms == 0 || s.messages == 0 || s.rate == 0 {
            return Err("nodes, rooms, messages and rate must be positive".to_owned());
        }
        if s.connections < s.rooms {
            return Err(format!(
                "{} connections cannot fill {} rooms",
                s.connections, s.rooms
            ));
        }
        let sizes = zipf_sizes(s.connections, s.rooms);
        let mut rng = SplitMix(s.seed);
        let mut clients = Vec::with_capacity(s.connections);
        let mut speakers = Vec::with_capacity(s.rooms);
        for (room, &size) in sizes.iter().enumerate() {
            speakers.push(clients.len());
            for _ in 0..size {
                clients.push((room, rng.below(s.nodes)));
            }
        }
        let schedule = (0..s.messages)
            .map(|_| match s.pick {
                Pick::Uniform => rng.below(s.rooms),
                Pick::BySize => clients[rng.below(s.connections)].0,
            })
            .collect();
        Ok(Self {
            sizes,
            clients,
            speakers,
            schedule,
            nodes: s.nodes,
        })
    }

    /// Messages sent into each room.
    #[must_use]
    pub fn messages_into(&self) -> Vec<usize> {
        let mut count = vec![0; self.sizes.len()];
        for &room in &self.schedule {
            count[room] += 1;
        }
        count
    }

    /// Members of each room on each node: `[node][room]`.
    fn members_by_node(&self) -> Vec<Vec<usize>> {
        let mut members = vec![vec![0; self.sizes.len()]; self.nodes];
        for &(room, node) in &self.clients {
            members[node][room] += 1;
        }
        members
    }

    /// Per node: connections, rooms hosted, messages it should receive from Redis (those of
    /// the rooms it hosts) and deliveries it should make.
    #[must_use]
    pub fn expected_per_node(&self) -> Vec<Expected> {
        let into = self.messages_into();
        self.members_by_node()
            .into_iter()
            .map(|members| {
                let mut e = Expected::default();
                for (room, &m) in members.iter().enumerate() {
                    e.connections += m as u64;
                    if m > 0 {
                        e.rooms += 1;
                        e.received += into[room] as u64;
                        e.deliveries += (m * into[room]) as u64;
                    }
                }
                e
            })
            .collect()
    }

    /// Deliveries expected over all clients.
    #[must_use]
    pub fn expected_deliveries(&self) -> u64 {
        self.schedule.iter().map(|&r| self.sizes[r] as u64).sum()
    }
}

impl Plan {
    /// What the plan alone says, without running anything (`bench-fanout --rooms
    /// --plan-only`): per node, the mean and largest connections, rooms hosted and share of the
    /// published messages it receives; deliveries per published message; the saving against a
    /// pattern subscription.
    #[must_use]
    pub fn summary(&self) -> String {
        let e = self.expected_per_node();
        let published = self.schedule.len() as f64;
        let n = e.len() as f64;
        let mean = |f: &dyn Fn(&Expected) -> u64| e.iter().map(f).sum::<u64>() as f64 / n;
        let max = |f: &dyn Fn(&Expected) -> u64| e.iter().map(f).max().unwrap_or(0);
        let received: u64 = e.iter().map(|x| x.received).sum();
        format!(
            "plan: {} nodes, {} connections, {} rooms (largest {}, smallest {}), {} messages\n\
             per node: connections mean {:.0} max {}; rooms hosted mean {:.0} max {}; \
             receives {:.1} % of the published messages on average (max {:.1} %)\n\
             deliveries per published message: {:.1}; deliveries per received message: {:.1}\n\
             received in all: {} (pattern subscription: {}, saved {:.1} %)\n",
            self.nodes,
            self.clients.len(),
            self.sizes.len(),
            self.sizes.first().copied().unwrap_or(0),
            self.sizes.last().copied().unwrap_or(0),
            self.schedule.len(),
            mean(&|x| x.connections),
            max(&|x| x.connections),
            mean(&|x| x.rooms),
            max(&|x| x.rooms),
            100.0 * mean(&|x| x.received) / published,
            100.0 * max(&|x| x.received) as f64 / published,
            self.expected_deliveries() as f64 / published,
            self.expected_deliveries() as f64 / received.max(1) as f64,
            received,
            self.schedule.len() * self.nodes,
            100.0 * (1.0 - received as f64 / (published * n)),
        )
    }
}

/// What a node should see, from the plan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Expected {
    /// Connections on the node.
    pub connections: u64,
    /// Distinct rooms with members on the node.
    pub rooms: u64,
    /// Room messages it should receive from Redis.
    pub received: u64,
    /// Deliveries it should queue.
    pub deliveries: u64,
}

/// `connections` split over `rooms` in proportion to 1/k (k = 1, 2, …), every room at least
/// one member; largest first.
#[must_use]
pub fn zipf_sizes(connections: usize, rooms: usize) -> Vec<usize> {
    let weights: Vec<f64> = (1..=rooms).map(|k| 1.0 / k as f64).collect();
    let total: f64 = weights.iter().sum();
    let spare = connections - rooms;
    let mut sizes: Vec<usize> = weights
        .iter()
        .map(|w| 1 + (spare as f64 * w / total) as usize)
        .collect();
    let left = connections - sizes.iter().sum::<usize>();
    // Rounding leaves fewer than `rooms` over: one more each for the largest rooms.
    for size in sizes.iter_mut().take(left) {
        *size += 1;
    }
    sizes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zipf_sizes_fill_every_room_and_add_up() {
        let sizes = zipf_sizes(10_000, 500);
        assert_eq!(sizes.iter().sum::<usize>(), 10_000);
        assert!(sizes.iter().all(|&s| s >= 1));
        assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "{sizes:?}");
        assert!(
            sizes[0] > 1_000 && sizes[499] <= 4,
            "{} {}",
            sizes[0],
            sizes[499]
        );
        assert_eq!(zipf_sizes(5, 5), vec![1; 5]);
    }

    #[test]
    fn the_plan_says_what_each_node_receives_and_delivers() {
        let plan = Plan::new(&RoomsScenario::smoke()).unwrap();
        assert_eq!(plan.clients.len(), 60);
        assert_eq!(plan.schedule.len(), 30);
        let expected = plan.expected_per_node();
        assert_eq!(expected.iter().map(|e| e.connections).sum::<u64>(), 60);
        let deliveries: u64 = expected.iter().map(|e| e.deliveries).sum();
        assert_eq!(deliveries, plan.expected_deliveries());
        for e in &expected {
            assert!(e.received <= 30 && e.rooms <= 12);
        }
        // Deterministic.
        assert_eq!(
            Plan::new(&RoomsScenario::smoke()).unwrap().schedule,
            plan.schedule
        );
    }
}
