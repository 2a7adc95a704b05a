use crate::ast::App;
use crate::error::{ParseError, Result};

pub(crate) fn parse_app(_sql: &str) -> Result<App> {
    Err(ParseError::new("the parser is not written yet", sqlparser::tokenizer::Span::empty()))
}
