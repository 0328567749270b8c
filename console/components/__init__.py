"""Building blocks shared by the console's pages: the sidebar layout, cards, quota meters and the pager."""
