"""Collection actions out: exception reports, the CFO digest, dunning, threshold alerts and the
credit-hold write-back. Everything reads the published serving file; what was sent is recorded in
the ops store's send log, so nothing goes out twice."""
