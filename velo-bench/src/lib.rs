//! Velo's scenario benchmark suite: the earlier system's five scenarios (0 to 3b),
//! with the same SQL and record shapes, run against the V1 and V2 processors.
//!
//! [`runner`] prepares a scenario's input in memory (outside the timed region) and
//! runs it on V1 and on V2 with N partitions through the server's own runtime; the
//! `velo-bench` binary prints them side by side and checks that V1's and V2's
//! outputs are the same multiset. Micro-benchmarks of single operators live next
//! to their code (`velo-engine/benches`, `velo-partition/benches`).

pub mod check;
pub mod e2e;
pub mod latency;
pub mod report;
pub mod runner;

/// The same allocator as the `velo-server` binary, so the benchmark measures what
/// the server runs.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use velo_types::connector::GeneratorProfile;

/// One benchmark scenario: a query over generated records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scenario {
    /// `0`, `1`, `2`, `3a`, `3b`.
    pub id: &'static str,
    pub title: &'static str,
    /// The query, reading from the source named by the profile's table.
    pub sql: &'static str,
    /// The source the SQL reads (`orders` or `market_data`).
    pub table: &'static str,
    pub profile: GeneratorProfile,
    /// The generator's `NAME.profile` value for `profile`.
    pub profile_name: &'static str,
}

/// The five scenarios, in order.
pub const SCENARIOS: &[Scenario] = &[
    Scenario {
        id: "0",
        title: "SELECT with a filter",
        sql: "SELECT order_id, customer_id, order_date, total_amount FROM orders WHERE total_amount > 100",
        table: "orders",
        profile: GeneratorProfile::Orders,
        profile_name: "orders",
    },
    Scenario {
        id: "1",
        title: "ROWS window",
        sql: "SELECT symbol, price, AVG(price) OVER (ROWS WINDOW BUFFER 100 ROWS PARTITION BY symbol ORDER BY timestamp) AS moving_avg, MIN(price) OVER (ROWS WINDOW BUFFER 100 ROWS PARTITION BY symbol ORDER BY timestamp) AS min_price, MAX(price) OVER (ROWS WINDOW BUFFER 100 ROWS PARTITION BY symbol ORDER BY timestamp) AS max_price FROM market_data",
        table: "market_data",
        profile: GeneratorProfile::Ticks,
        profile_name: "ticks",
    },
    Scenario {
        id: "2",
        title: "GROUP BY",
        sql: "SELECT symbol, COUNT(*) AS trade_count, AVG(price) AS avg_price, MIN(price) AS min_price, MAX(price) AS max_price, SUM(quantity) AS total_quantity FROM market_data GROUP BY symbol",
        table: "market_data",
        profile: GeneratorProfile::Quotes,
        profile_name: "quotes",
    },
    Scenario {
        id: "3a",
        title: "TUMBLING window",
        sql: "SELECT trader_id, symbol, COUNT(*) AS trade_count, AVG(price) AS avg_price, SUM(quantity) AS total_quantity, SUM(price * quantity) AS total_value FROM market_data GROUP BY trader_id, symbol WINDOW TUMBLING(trade_time, INTERVAL '1' MINUTE)",
        table: "market_data",
        profile: GeneratorProfile::Trades,
        profile_name: "trades",
    },
    Scenario {
        id: "3b",
        title: "TUMBLING window, EMIT CHANGES",
        sql: "SELECT trader_id, symbol, COUNT(*) AS trade_count, AVG(price) AS avg_price, SUM(quantity) AS total_quantity, SUM(price * quantity) AS total_value FROM market_data GROUP BY trader_id, symbol WINDOW TUMBLING(trade_time, INTERVAL '1' MINUTE) EMIT CHANGES",
        table: "market_data",
        profile: GeneratorProfile::Trades,
        profile_name: "trades",
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scenario_parses() {
        for s in SCENARIOS {
            let app = velo_ast::parse_app(s.sql);
            assert!(app.is_ok(), "scenario {}: {:?}", s.id, app.err());
        }
    }
}
