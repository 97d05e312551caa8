//! Scrape integration tests: the scrape manager against real servers on loopback.

mod tls;
