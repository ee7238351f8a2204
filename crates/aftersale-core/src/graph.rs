//! The term dependency graph: an edge `a -> b` means term `b` reads `terms.a`. Built once at
//! load, it gives the evaluation order and answers "what must run for these outputs?".

use std::collections::{BTreeSet, VecDeque};

use petgraph::algo::{tarjan_scc, toposort};
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use petgraph::Direction;

/// A cycle found in the graph: the term indices on it, in order, first repeated at the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle(pub Vec<usize>);

/// The dependency graph over term indices `0..n`.
#[derive(Debug, Clone)]
pub struct TermGraph {
    graph: DiGraph<usize, ()>,
    order: Vec<usize>,
}

impl TermGraph {
    /// Builds the graph from `deps[i]` = the terms term `i` reads. Returns every cycle (one
    /// per strongly connected component, including a term reading itself) on failure.
    pub fn build(deps: &[Vec<usize>]) -> Result<Self, Vec<Cycle>> {
        let mut graph =
            DiGraph::<usize, ()>::with_capacity(deps.len(), deps.iter().map(Vec::len).sum());
        let nodes: Vec<NodeIndex> = (0..deps.len()).map(|i| graph.add_node(i)).collect();
        for (term, reads) in deps.iter().enumerate() {
            for &dep in reads {
                if let (Some(&from), Some(&to)) = (nodes.get(dep), nodes.get(term)) {
                    graph.update_edge(from, to, ());
                }
            }
        }
        let cycles = find_cycles(&graph);
        if !cycles.is_empty() {
            return Err(cycles);
        }
        match toposort(&graph, None) {
            Ok(sorted) => {
                let order = sorted.into_iter().map(|n| graph[n]).collect();
                Ok(Self { graph, order })
            }
            Err(cycle) => Err(vec![Cycle(vec![
                graph[cycle.node_id()],
                graph[cycle.node_id()],
            ])]),
        }
    }

    /// Every term in an order where each comes after the terms it reads.
    #[cfg(test)]
    pub fn order(&self) -> &[usize] {
        &self.order
    }

    /// The terms that `outputs` need (themselves and everything they read, transitively),
    /// in evaluation order.
    pub fn plan(&self, outputs: &[usize]) -> Vec<usize> {
        let mut needed = BTreeSet::new();
        let mut queue: VecDeque<usize> = outputs.iter().copied().collect();
        while let Some(t) = queue.pop_front() {
            if needed.insert(t) {
                let node = NodeIndex::new(t);
                queue.extend(
                    self.graph
                        .neighbors_directed(node, Direction::Incoming)
                        .map(|n| self.graph[n]),
                );
            }
        }
        self.order
            .iter()
            .copied()
            .filter(|t| needed.contains(t))
            .collect()
    }

    /// Terms that no other term reads (the default outputs), in index order.
    pub fn sinks(&self) -> Vec<usize> {
        self.graph
            .node_indices()
            .filter(|&n| {
                self.graph
                    .neighbors_directed(n, Direction::Outgoing)
                    .next()
                    .is_none()
            })
            .map(|n| self.graph[n])
            .collect()
    }

    /// The edges `(read, reader)`.
    pub fn edges(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.graph
            .edge_references()
            .map(|e| (self.graph[e.source()], self.graph[e.target()]))
    }
}

/// One concrete cycle per strongly connected component that has one, as term indices in the
/// direction "reads": `a` reads `b` reads `a` gives `[a, b, a]`.
fn find_cycles(graph: &DiGraph<usize, ()>) -> Vec<Cycle> {
    let mut cycles = Vec::new();
    for scc in tarjan_scc(graph) {
        let Some(&start) = scc.iter().min_by_key(|n| graph[**n]) else {
            continue;
        };
        let self_loop = graph.contains_edge(start, start);
        if scc.len() == 1 && !self_loop {
            continue;
        }
        if self_loop {
            cycles.push(Cycle(vec![graph[start], graph[start]]));
            continue;
        }
        let members: BTreeSet<NodeIndex> = scc.iter().copied().collect();
        cycles.push(Cycle(shortest_cycle_through(graph, start, &members)));
    }
    cycles.sort_by(|a, b| a.0.cmp(&b.0));
    cycles
}

/// Breadth-first search, inside one component, for the shortest way from `start` back to
/// itself following "reads" (edges reversed), so the cycle reads `a -> b -> a` when `a`
/// reads `b` and `b` reads `a`.
fn shortest_cycle_through(
    graph: &DiGraph<usize, ()>,
    start: NodeIndex,
    members: &BTreeSet<NodeIndex>,
) -> Vec<usize> {
    let mut came_from: std::collections::BTreeMap<NodeIndex, NodeIndex> =
        std::collections::BTreeMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(n) = queue.pop_front() {
        let mut reads: Vec<NodeIndex> = graph
            .neighbors_directed(n, Direction::Incoming)
            .filter(|m| members.contains(m))
            .collect();
        reads.sort_by_key(|m| graph[*m]);
        for m in reads {
            if m == start {
                let mut path = vec![graph[start]];
                let mut cur = n;
                let mut back = vec![];
                while cur != start {
                    back.push(graph[cur]);
                    cur = came_from.get(&cur).copied().unwrap_or(start);
                }
                back.reverse();
                path.extend(back);
                path.push(graph[start]);
                return path;
            }
            if let std::collections::btree_map::Entry::Vacant(e) = came_from.entry(m) {
                e.insert(n);
                queue.push_back(m);
            }
        }
    }
    vec![graph[start], graph[start]]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_puts_dependencies_first() {
        // 0 reads 1, 1 reads 2
        let g = TermGraph::build(&[vec![1], vec![2], vec![]]).unwrap();
        assert_eq!(g.order(), &[2, 1, 0]);
        assert_eq!(g.sinks(), vec![0]);
    }

    #[test]
    fn plan_runs_only_what_outputs_need() {
        // 0 reads 1; 2 reads 3; 4 alone
        let g = TermGraph::build(&[vec![1], vec![], vec![3], vec![], vec![]]).unwrap();
        let plan = g.plan(&[0]);
        assert_eq!(plan, vec![1, 0]);
        let plan = g.plan(&[2, 4]);
        assert_eq!(plan.len(), 3);
        assert!(plan.iter().position(|&t| t == 3) < plan.iter().position(|&t| t == 2));
    }

    #[test]
    fn two_term_cycle_names_both_in_order() {
        // 0 reads 1, 1 reads 0
        let err = TermGraph::build(&[vec![1], vec![0]]).unwrap_err();
        assert_eq!(err, vec![Cycle(vec![0, 1, 0])]);
    }

    #[test]
    fn longer_cycle_follows_reads() {
        // 0 reads 2, 2 reads 1, 1 reads 0; 3 reads 0 (not on the cycle)
        let err = TermGraph::build(&[vec![2], vec![0], vec![1], vec![0]]).unwrap_err();
        assert_eq!(err, vec![Cycle(vec![0, 2, 1, 0])]);
    }

    #[test]
    fn self_reading_term_is_a_cycle() {
        let err = TermGraph::build(&[vec![0]]).unwrap_err();
        assert_eq!(err, vec![Cycle(vec![0, 0])]);
    }

    #[test]
    fn diamond_is_not_a_cycle() {
        // 0 reads 1 and 2; both read 3
        let g = TermGraph::build(&[vec![1, 2], vec![3], vec![3], vec![]]).unwrap();
        assert_eq!(g.plan(&[0]).first(), Some(&3));
        assert_eq!(g.plan(&[0]).last(), Some(&0));
    }
}
