"""An example third-party distribution: the `Classifier` plugin type, the
`KeywordSentiment` plugin, and the `ReviewDesk` package that uses it."""
