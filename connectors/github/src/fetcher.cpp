// The fetcher lands with the HTTP client.
