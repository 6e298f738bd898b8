// Package limits holds the per-tenant limits of --limits-file: how many
// bytes a tenant may send per second and in a burst, the largest trace, the
// most attributes, events and links a span keeps, the longest attribute
// value, how long its spans are kept, and how much one search may ask for.
//
// The file is YAML (or JSON):
//
//	defaults:                        # every tenant, the default one included
//	  ingestion_rate_bytes: 10MiB    # per second, sustained
//	  ingestion_burst_bytes: 20MiB   # at once
//	  max_bytes_per_trace: 5MiB
//	  max_attributes_per_span: 128
//	  max_events_per_span: 128
//	  max_links_per_span: 128
//	  max_attribute_value_length: 4096
//	  retention: 72h
//	  max_search_limit: 1000
//	  max_search_lookback: 168h
//	tenants:
//	  team-a:                        # what is set here replaces the default
//	    ingestion_rate_bytes: 50MiB
//
// A limit that is not set (or 0) is no limit. The file is looked at again
// every reload interval when a request comes, and a changed file that is
// valid applies to the next requests; one that is not is logged and the
// previous limits stay in force. Overrides is safe for concurrent use.
package limits
