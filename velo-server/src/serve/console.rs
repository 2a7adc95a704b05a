//! The web console of `serve`: one page at `GET /`, embedded in the binary
//! with its styles and scripts inlined (no network, no CDN, no build step).
//!
//! The page (`velo-server/console/`) is plain HTML, CSS and JavaScript over the
//! public JSON API of [`super::api`] and nothing else, so whatever it shows can
//! be scripted too: it polls `GET /jobs` once a second (backing off, with a
//! banner, while the server is unreachable), keeps the last five minutes of
//! each job's rates and latency in memory for its charts, and takes actions
//! with the same requests as `curl` would (`POST /jobs`, `DELETE /jobs/{id}`,
//! `POST /jobs/{id}/checkpoint`). Its one library is uPlot, vendored minified
//! with its licence under `console/vendor/` (see the README there).

use std::sync::LazyLock;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::api::AppState;

/// The page's source, which links its styles and scripts under `/console/`.
const INDEX: &str = include_str!("../../console/index.html");

/// Each tag of [`INDEX`] that links a file, and the file inlined in its place.
/// The vendored library's folder names its version.
const INLINED: [(&str, &str); 4] = [
    (
        r#"<link rel="stylesheet" href="/console/uPlot.min.css">"#,
        concat!(
            "<style>",
            include_str!("../../console/vendor/uPlot-1.6.32/uPlot.min.css"),
            "</style>"
        ),
    ),
    (
        r#"<link rel="stylesheet" href="/console/app.css">"#,
        concat!("<style>", include_str!("../../console/app.css"), "</style>"),
    ),
    (
        r#"<script src="/console/uPlot.iife.min.js"></script>"#,
        concat!(
            "<script>",
            include_str!("../../console/vendor/uPlot-1.6.32/uPlot.iife.min.js"),
            "</script>"
        ),
    ),
    (
        r#"<script src="/console/app.js"></script>"#,
        concat!(
            "<script>",
            include_str!("../../console/app.js"),
            "</script>"
        ),
    ),
];

/// The page as served: one response with everything inlined, so that the
/// browser asks for nothing more than the API (its first `GET /jobs` leaves
/// from the page's head while the rest loads).
static PAGE: LazyLock<String> = LazyLock::new(|| {
    INLINED
        .iter()
        .fold(INDEX.to_string(), |page, (tag, inlined)| {
            page.replace(tag, inlined)
        })
});

/// The console's route, merged into the API's router.
pub fn routes() -> Router<AppState> {
    Router::new().route("/", get(page))
}

async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            // Revalidated on every load: a new server brings its own console.
            (header::CACHE_CONTROL, "no-cache"),
        ],
        PAGE.as_str(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_inlines_every_file_it_links_and_needs_no_network() {
        for (tag, _) in &INLINED {
            assert!(INDEX.contains(tag), "index.html no longer has {tag}");
        }
        assert!(!PAGE.contains("/console/"), "a file is linked, not inlined");
        assert!(PAGE.contains("uPlot") && PAGE.contains("veloFirstJobs"));
        for (_, inlined) in &INLINED {
            // An inlined file must not close its tag early.
            let closing = inlined.matches("</script").count() + inlined.matches("</style").count();
            assert_eq!(closing, 1, "{}", &inlined[..60]);
        }
        assert!(!PAGE.contains("<link") && !PAGE.contains("<script src"));
    }
}
