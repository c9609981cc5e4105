"""The one outbound HTTP client (client.py over the lean HTTP/1.1 of http1.py): deadlines, size
limits, TLS, and every socket error translated into a BuyerCallFailed child. Nothing else in
pingtree opens a connection to a buyer or a CRM."""
