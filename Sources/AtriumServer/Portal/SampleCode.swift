/// Ready-to-run examples for a model. (The docs' per-operation samples in four languages grow from
/// here: one description per operation, rendered for each language.)
enum SampleCode {
    static func curl(for model: PublicModel, baseURL: String) -> String {
        switch model.kind {
        case .embedding:
            """
            curl \(baseURL)/v1/embeddings \\
              -H "Authorization: Bearer $ATRIUM_API_KEY" \\
              -H "Content-Type: application/json" \\
              -d '{"model": "\(model.id)", "input": "The food was delicious."}'
            """
        case .completion:
            """
            curl \(baseURL)/v1/completions \\
              -H "Authorization: Bearer $ATRIUM_API_KEY" \\
              -H "Content-Type: application/json" \\
              -d '{"model": "\(model.id)", "prompt": "Once upon a time", "max_tokens": 32}'
            """
        case .chat:
            """
            curl \(baseURL)/v1/chat/completions \\
              -H "Authorization: Bearer $ATRIUM_API_KEY" \\
              -H "Content-Type: application/json" \\
              -d '{"model": "\(model.id)", "messages": [{"role": "user", "content": "Say hello."}]}'
            """
        }
    }
}
