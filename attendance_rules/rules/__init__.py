"""The condition language and the rule-set compiler: text → checked trees → closures, stratified."""
