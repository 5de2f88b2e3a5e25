import Foundation

/// The JSON files of a model folder (`config.json`, `tokenizer_config.json`, …), read as Foundation
/// objects, with errors that name the file.
enum JSONFile {
    /// The object in `url`; nil where the file is absent and not `required`.
    static func object(at url: URL, required: Bool = true) throws -> [String: Any]? {
        let name = url.lastPathComponent
        guard let data = try? Data(contentsOf: url) else {
            if required { throw ModelLoadError(name, "is missing") }
            return nil
        }
        do {
            guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw ModelLoadError(name, "is not a JSON object")
            }
            return object
        } catch let error as ModelLoadError {
            throw error
        } catch {
            throw ModelLoadError(name, "is not valid JSON (\(error.localizedDescription))")
        }
    }
}
