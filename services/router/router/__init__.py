"""Router v2: for each chat request, the cheapest model tier expected to answer it well, per tenant policy."""
