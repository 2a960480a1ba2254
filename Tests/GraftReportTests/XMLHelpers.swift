import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// Parses SVG/XHTML output as XML, so every test also checks well-formedness.
struct ParsedXML {
    let document: XMLDocument

    init(_ text: String) throws {
        document = try XMLDocument(xmlString: text, options: [])
    }

    /// Elements named `name` (namespace prefix ignored) in document order, optionally only those
    /// whose class list contains `cls`.
    func elements(_ name: String, class cls: String? = nil) throws -> [XMLElement] {
        var found: [XMLElement] = []
        func visit(_ node: XMLNode) {
            if let element = node as? XMLElement {
                let local = element.localName ?? element.name?.split(separator: ":").last.map(String.init) ?? ""
                let classes = (element.string("class") ?? "").split(separator: " ")
                if local == name, cls.map({ classes.contains(Substring($0)) }) ?? true { found.append(element) }
            }
            for child in node.children ?? [] { visit(child) }
        }
        if let root = document.rootElement() { visit(root) }
        return found
    }

    /// Text content of the matching elements, in document order.
    func texts(_ name: String, class cls: String? = nil) throws -> [String] {
        try elements(name, class: cls).map { $0.stringValue ?? "" }
    }
}

extension XMLElement {
    func double(_ attribute: String) -> Double? {
        string(attribute).flatMap(Double.init)
    }

    /// An attribute's value. Looked up in `attributes` because FoundationXML's
    /// `attribute(forName:)` finds nothing on elements in a default namespace (SVG's).
    func string(_ attribute: String) -> String? {
        attributes?.first { $0.name == attribute }?.stringValue
    }

    /// The `points` attribute of a polyline or polygon as (x, y) pairs.
    var points: [(Double, Double)] {
        let raw = string("points") ?? ""
        return raw.split(separator: " ").compactMap { pair in
            let xy = pair.split(separator: ",")
            guard xy.count == 2, let x = Double(xy[0]), let y = Double(xy[1]) else { return nil }
            return (x, y)
        }
    }
}

/// The plot area's pixel rectangle, read from the SVG.
struct PlotArea {
    let x: Double, y: Double, width: Double, height: Double

    init(_ xml: ParsedXML) throws {
        let rect = try xml.elements("rect", class: "plot-area")
        guard rect.count == 1, let x = rect[0].double("x"), let y = rect[0].double("y"),
            let w = rect[0].double("width"), let h = rect[0].double("height")
        else { throw XMLTestError.missing("plot-area rect") }
        self.x = x
        self.y = y
        self.width = w
        self.height = h
    }
}

enum XMLTestError: Error {
    case missing(String)
}
