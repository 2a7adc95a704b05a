//! The five partitioning strategies of SPEC §5, by name. The planner chooses
//! and validates one, velo-partition routes by it; both speak this type.

use std::fmt;

/// The five routing strategies of SPEC §5. The routing itself is velo-partition's;
/// the planner chooses and validates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StrategyKind {
    AlwaysHash,
    SmartRepartition,
    StickyPartition,
    RoundRobin,
    FanIn,
}

impl StrategyKind {
    /// Parses a strategy name, accepting the original system's aliases
    /// (case-insensitive; `-` and `_` are interchangeable): `always_hash` / `hash`,
    /// `smart_repartition` / `smart`, `sticky_partition` / `sticky`,
    /// `round_robin` / `roundrobin` / `rr`, `fan_in` / `fanin`.
    pub fn parse(name: &str) -> Option<StrategyKind> {
        let norm: String = name
            .trim()
            .chars()
            .filter(|c| *c != '_' && *c != '-')
            .map(|c| c.to_ascii_lowercase())
            .collect();
        match norm.as_str() {
            "alwayshash" | "hash" | "alwayshashstrategy" => Some(StrategyKind::AlwaysHash),
            "smartrepartition" | "smart" | "smartrepartitionstrategy" => {
                Some(StrategyKind::SmartRepartition)
            }
            "stickypartition" | "sticky" | "stickypartitionstrategy" => {
                Some(StrategyKind::StickyPartition)
            }
            "roundrobin" | "rr" | "roundrobinstrategy" => Some(StrategyKind::RoundRobin),
            "fanin" | "faninstrategy" => Some(StrategyKind::FanIn),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            StrategyKind::AlwaysHash => "always_hash",
            StrategyKind::SmartRepartition => "smart_repartition",
            StrategyKind::StickyPartition => "sticky_partition",
            StrategyKind::RoundRobin => "round_robin",
            StrategyKind::FanIn => "fan_in",
        }
    }
}

impl fmt::Display for StrategyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_parse() {
        assert_eq!(
            StrategyKind::parse("Always-Hash"),
            Some(StrategyKind::AlwaysHash)
        );
        assert_eq!(
            StrategyKind::parse("sticky"),
            Some(StrategyKind::StickyPartition)
        );
        assert_eq!(
            StrategyKind::parse("RoundRobin"),
            Some(StrategyKind::RoundRobin)
        );
        assert_eq!(StrategyKind::parse("fan_in"), Some(StrategyKind::FanIn));
        assert_eq!(
            StrategyKind::parse("smart"),
            Some(StrategyKind::SmartRepartition)
        );
        assert_eq!(StrategyKind::parse("bogus"), None);
    }
}
