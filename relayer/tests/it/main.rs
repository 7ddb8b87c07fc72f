//! Integration tests of the hub, against real redis-server and anvil
//! processes that each test starts on free ports and stops.

mod admin;
mod bad_input;
mod balance;
mod beacon;
mod beacon_anchor;
mod bench;
mod chaos;
mod cosmos;
mod e2e;
mod groups;
mod integrate;
mod isolation;
mod lanes;
mod lc;
mod ops;
mod overload;
mod pingpong;
mod reliability;
mod roles;
mod sdk;
mod secrets;
mod stack;
mod status;
mod tls;
