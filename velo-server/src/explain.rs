//! `velo-server explain`: each job's plan as text or JSON.

use serde_json::{json, Value as Json};
use velo_planner::{operator_tree, AppPlan, JobPlan, LateDataStrategy, PlanNode, TimeWindowKind};
use velo_types::connector::{SinkConfig, SourceConfig};

/// How explain shows the columns of a Kafka source without a declared schema.
const RUN_TIME_SCHEMA: &str = "typed at run time from the first messages";

/// A Kafka connector's brokers; `null` when neither the app nor the
/// environment names them (`run` refuses the job).
fn brokers(brokers: &str) -> Json {
    if brokers.is_empty() {
        Json::Null
    } else {
        json!(brokers)
    }
}

/// A declared schema as `name TYPE` pairs, as it is written in `NAME.schema`.
fn schema_text(schema: &velo_types::Schema) -> String {
    schema
        .fields()
        .iter()
        .map(|f| format!("{} {}", f.name, f.data_type))
        .collect::<Vec<_>>()
        .join(", ")
}

/// How many threads read a source that can be split: `--readers`, whose
/// default depends on the processor and the machine's cores (the rule, not
/// this machine's count, so that the plan reads the same anywhere).
fn readers_text(what: &str) -> String {
    format!("--readers: by default 1 with V1, with V2 one per core (at most 8){what}")
}

fn source_json(job: &JobPlan) -> Json {
    let s = &job.source;
    let mut v = match &s.config {
        SourceConfig::File { path, encoding } => json!({
            "type": "file_source", "path": path.display().to_string(),
            "format": format!("{:?}", encoding.format),
            // Split into chunks decoded in parallel, handed over in order.
            "decoding_threads": readers_text(", and one more thread splitting the file when 2 or more"),
        }),
        SourceConfig::Stdin { encoding } => {
            json!({"type": "stdin_source", "format": format!("{:?}", encoding.format)})
        }
        SourceConfig::Generator { profile, records } => json!({
            "type": "generator_source", "profile": format!("{profile:?}"), "records": records,
        }),
        SourceConfig::Nexmark(n) => json!({
            "type": "nexmark_source", "table": n.table.name(), "events": n.events,
            "rate": n.rate, "base_time": n.base_time,
            // Generated in parallel chunks, handed over in order (unpaced only).
            "generating_threads": if n.rate.is_some() {
                "1 (paced)".to_string()
            } else {
                readers_text("")
            },
        }),
        SourceConfig::Kafka(k) => json!({
            "type": "kafka_source", "topic": k.topic, "bootstrap_servers": brokers(&k.brokers),
            "group_id": k.group_id, "auto_offset_reset": k.auto_offset_reset,
            "schema": match &k.schema {
                Some(schema) => schema_text(schema),
                None => RUN_TIME_SCHEMA.to_string(),
            },
        }),
    };
    v["name"] = json!(s.name);
    if let Some(pk) = &s.partition_key {
        v["partition_key"] = json!(pk);
    }
    v
}

fn sink_json(job: &JobPlan) -> Json {
    let mut v = match &job.sink.config {
        SinkConfig::File { path, encoding } => json!({
            "type": "file_sink", "path": path.display().to_string(),
            "format": format!("{:?}", encoding.format),
        }),
        SinkConfig::Stdout { encoding } => {
            json!({"type": "stdout_sink", "format": format!("{:?}", encoding.format)})
        }
        SinkConfig::Kafka(k) => json!({
            "type": "kafka_sink", "topic": k.topic, "bootstrap_servers": brokers(&k.brokers),
            "key": k.key_columns,
        }),
    };
    v["name"] = json!(job.sink.name);
    v
}

fn window_json(job: &JobPlan) -> Json {
    let a = &job.analysis;
    if let Some(w) = &a.window {
        let mut v = match w.kind {
            TimeWindowKind::Tumbling { size_ms } => json!({"type": "tumbling", "size_ms": size_ms}),
            TimeWindowKind::Sliding {
                size_ms,
                advance_ms,
            } => {
                json!({"type": "sliding", "size_ms": size_ms, "advance_ms": advance_ms})
            }
            TimeWindowKind::Session { gap_ms } => json!({"type": "session", "gap_ms": gap_ms}),
        };
        v["time_column"] = json!(w.time_column);
        v
    } else if let Some(r) = &a.rows_window {
        json!({
            "type": "rows",
            "buffer_rows": r.buffer_rows,
            "partition_by": r.partition_by.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
            "order_by": r.order_by.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
        })
    } else {
        Json::Null
    }
}

/// An operator and its inputs, as nested JSON.
fn node_json(node: &PlanNode) -> Json {
    json!({
        "operator": node.operator,
        "detail": node.detail,
        "keys": node.keys,
        "output": node.output.map(|o| o.name()),
        "inputs": node.inputs.iter().map(node_json).collect::<Vec<_>>(),
    })
}

/// An operator and its inputs as indented lines, the root first.
fn node_text(node: &PlanNode, depth: usize, out: &mut String) {
    let keys = if node.keys.is_empty() {
        String::new()
    } else {
        format!(" by {}", node.keys.join(", "))
    };
    let output = node
        .output
        .map_or(String::new(), |o| format!(" -> {}", o.name()));
    out.push_str(&format!(
        "{}{}{keys}: {}{output}\n",
        "  ".repeat(depth + 2),
        node.operator,
        node.detail
    ));
    for input in &node.inputs {
        node_text(input, depth + 1, out);
    }
}

fn job_json(job: &JobPlan) -> Json {
    let a = &job.analysis;
    let c = &job.config;
    json!({
        "job": job.name,
        "source": source_json(job),
        "sink": sink_json(job),
        "group_keys": a.group_keys.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
        "aggregates": a.aggregates.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
        "window": window_json(job),
        "emit": format!("{:?}", a.emit).to_lowercase(),
        "stateful": a.stateful,
        "event_time_field": c.event_time_field,
        "watermark": {
            "strategy": format!("{:?}", c.watermark_strategy),
            "max_out_of_orderness_ms": c.max_out_of_orderness_ms,
        },
        "late_data": match &c.late_data {
            LateDataStrategy::DeadLetter { sink } => format!("dead_letter -> {sink}"),
            other => format!("{other:?}"),
        },
        "partitioning": {
            "strategy": job.strategy.kind.name(),
            "keys": job.strategy.keys,
            "reason": job.strategy.reason,
        },
        "operators": node_json(&operator_tree(job)),
        "warnings": job.warnings,
    })
}

/// The plan as one JSON document: `{"jobs": [...]}`.
pub fn json(plan: &AppPlan) -> String {
    let jobs: Vec<Json> = plan.jobs.iter().map(job_json).collect();
    serde_json::to_string_pretty(&json!({ "jobs": jobs })).expect("plain JSON values")
}

/// The plan as indented text, one block per job.
pub fn text(plan: &AppPlan) -> String {
    let mut out = String::new();
    for job in &plan.jobs {
        let v = job_json(job);
        out.push_str(&format!("job {}\n", job.name));
        for key in [
            "source",
            "sink",
            "group_keys",
            "aggregates",
            "window",
            "emit",
            "stateful",
            "event_time_field",
            "watermark",
            "late_data",
            "partitioning",
        ] {
            out.push_str(&format!("  {key}: {}\n", compact(&v[key])));
        }
        out.push_str("  operators:\n");
        node_text(&operator_tree(job), 0, &mut out);
        for w in &job.warnings {
            out.push_str(&format!("  warning: {w}\n"));
        }
    }
    out.trim_end().to_string()
}

fn compact(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        Json::Null => "none".to_string(),
        Json::Array(items) if items.is_empty() => "none".to_string(),
        Json::Object(map) => map
            .iter()
            .map(|(k, v)| format!("{k}={}", compact(v)))
            .collect::<Vec<_>>()
            .join(", "),
        Json::Array(items) => items.iter().map(compact).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}
