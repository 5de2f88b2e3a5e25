import Testing

@testable import AtriumServer

/// View models that hand the templates their fields themselves must hand over every field they have
/// (a new field left out would read as empty): compared with what reflection finds.
@Suite struct TemplateFieldsTests {
    static func reflected(_ value: Any) -> Set<String> {
        Set(Mirror(reflecting: value).children.compactMap { child in
            let inner = Mirror(reflecting: child.value)
            return inner.displayStyle == .optional && inner.children.isEmpty ? nil : child.label
        })
    }

    @Test func theLayoutsFieldsAreAllHandedOver() {
        let item = PageRenderer.NavItem(href: "/a", label: "A", current: true)
        let chrome = PageRenderer.Chrome(
            lang: "en", title: "T", csrf: "c", user: "U", staff: true, nav: [item], assets: ["css": "/a.css"], otherLanguage: "中文",
            otherLanguageHref: "/language", otherLanguageCode: "zh-Hans", year: "2026", unverifiedEmail: "e@example.com", unverifiedNotice: "n")
        let link = StaffPagesController.Search.Link(href: "/x", name: "X")
        for value in [item, chrome, link] as [any TemplateFields] {
            #expect(Set(value.templateFields.keys) == Self.reflected(value), "\(type(of: value))")
        }
        var anonymous = chrome
        anonymous.user = nil
        #expect(anonymous.templateFields["user"] == nil)  // absent, so that {{#user}} is false
    }
}
