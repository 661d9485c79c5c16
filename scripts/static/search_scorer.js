/* cnnbook's search scorer (html_search_scorer, set by scripts/cnnbook_sphinx.py): Sphinx's
   default weights, plus one rule. A result whose page title holds every word of the query
   ranks above pages that only mention the words (or hold them in one short section title),
   so "receptive field" finds the receptive-field chapter first. */
var Scorer = {
  score: function (result) {
    var title = String(result[1] || "").split(" > ")[0].toLowerCase();
    var query = (new URLSearchParams(window.location.search).get("q") || "").toLowerCase();
    var words = query.split(/\s+/).filter(function (w) { return w.length > 1; });
    var whole = words.length > 0 && words.every(function (w) { return title.indexOf(w) >= 0; });
    return result[4] + (whole ? 40 : 0);
  },
  objNameMatch: 11,
  objPartialMatch: 6,
  objPrio: { 0: 15, 1: 5, 2: -5 },
  objPrioDefault: 0,
  title: 15,
  partialTitle: 7,
  term: 5,
  partialTerm: 2
};
