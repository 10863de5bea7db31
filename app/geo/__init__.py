"""GeoJSON areas (RFC 7946), their validation, and spatial helpers."""
