/// A model folder or file that cannot be used, with the file at fault and what is wrong with it.
public struct ModelLoadError: Error, CustomStringConvertible, Equatable {
    public var file: String
    public var problem: String

    public init(_ file: String, _ problem: String) {
        self.file = file
        self.problem = problem
    }

    public var description: String { "\(file): \(problem)" }
}
