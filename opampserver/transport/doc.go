// Package transport holds the sidecar's limits on the connections agents open, below OpAMP:
// the listener that caps and counts open connections and tells slow clients (listener.go,
// the open-files limit it defaults from), and the WebSocket connection that enforces the
// message size, first-message and write limits as frames arrive (wsconn.go). The OpAMP
// server (package opampserver) serves its sessions on top of them.
package transport
