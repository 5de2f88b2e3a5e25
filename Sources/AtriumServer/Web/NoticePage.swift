import Hummingbird

/// A page that says how something went, with where to go next (a followed link, a step that waits
/// for another).
struct NoticePage {
    struct Link {
        var href: String
        var label: String
    }

    var heading: String
    var message: String
    var links: [Link]
    var isError: Bool
}

extension PageRenderer {
    /// The notice `key` of the catalog's `notices` (its heading and message), with `links` as (path, label key).
    func notice(
        _ key: String, _ values: [String: String] = [:], links: [(String, String)], state: PageState, status: HTTPResponse.Status = .ok
    ) -> Response {
        let language = state.language
        let model = NoticePage(
            heading: catalog.text("notices.\(key).heading", language, values), message: catalog.text("notices.\(key).message", language, values),
            links: links.map { NoticePage.Link(href: $0.0, label: catalog.text($0.1, language)) }, isError: status.code >= 400)
        return render("notice", titleKey: "notices.\(key).heading", titleValues: values, model: model, state: state, status: status)
    }
}
