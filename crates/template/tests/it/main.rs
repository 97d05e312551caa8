//! Integration tests: golden cases checked against Go, API behaviour, hostile input.

mod api;
mod cases;
mod hostile;
