// Package clustertest holds the cluster suite (build tag "cluster"): Go tests against a
// running multi-node cluster started by scripts/cluster.sh, run by `make test-cluster`. They
// use real pion peers and WebSocket clients, through nginx and straight to single nodes, and
// they kill, drain and restart nodes, NATS and Redis of that cluster.
package clustertest
