import Testing

@testable import AtriumServer

@Suite struct PageInputTests {
    @Test(arguments: [
        (nil, nil, Language.english),
        (nil, "zh-CN,zh;q=0.9,en;q=0.8", .simplifiedChinese),
        (nil, "en-GB,zh;q=0.9", .english),
        (nil, "fr-FR, zh-Hans;q=0.5", .simplifiedChinese),
        (nil, "zh-TW,zh-Hant;q=0.9,en;q=0.5", .english),
        (nil, "de;q=0.9,zh;q=0", .english),
        (nil, "zh;q=abc", .english),
        ("zh-Hans", "en-US", .simplifiedChinese),
        ("klingon", "zh", .simplifiedChinese),
    ] as [(String?, String?, Language)])
    func theLanguageIsTheChoiceElseTheBrowsersBestMatch(cookie: String?, header: String?, expected: Language) {
        #expect(Language.negotiate(cookie: cookie, acceptLanguage: header) == expected)
    }

    @Test func formsDecodeLikeBrowsersEncodeThem() throws {
        let form = try #require(FormData(encoded: "name=Ada+Lovelace&email=ada%40example.com&note=%E4%BD%A0%E5%A5%BD&empty=&name=second"))
        #expect(form["name"] == "Ada Lovelace")
        #expect(form["email"] == "ada@example.com")
        #expect(form["note"] == "你好")
        #expect(form["empty"] == "")
        #expect(form["missing"] == nil)
        #expect(FormData(encoded: "bad=%E4%BD") == nil)
        #expect(FormData(encoded: "nul=a%00b") == nil)
    }

    @Test(arguments: [
        ("/dashboard", true), ("/login?next=%2F", true), ("//evil.example", false), ("/\\evil.example", false),
        ("https://evil.example", false), ("dashboard", false), ("/a\r\nSet-Cookie: x", false),
    ])
    func onlyLocalPathsAreRedirectedTo(path: String, local: Bool) {
        #expect(SafeRedirect.isLocal(path) == local)
    }
}
