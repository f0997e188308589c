//! The text algorithms (src/text) against vectors recorded from CPython 3.11.
mod edge;
mod oracle;
mod props;
