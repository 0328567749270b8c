"""Building blocks shared by the console's pages: the sidebar layout, cards and the pager."""
