"""Pure parsing of inbound mail: classify, trim, links, auto-replies, bounces."""
