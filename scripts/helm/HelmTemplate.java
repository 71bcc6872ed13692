// Renders a local chart with Helm's own Go library (helm-java), like
// `helm template`, for one or more releases in a single JVM start.
//
//   java -cp 'libs/*' scripts/helm/HelmTemplate.java <chartDir> <kubeVersion> \
//        <release> <namespace> <valuesFile> [<release> <namespace> <valuesFile> ...]
//
// Each release's manifests go to stdout after a line
//   #### release <release> <namespace>
// so a caller can split them. Any Helm error exits 1 with the message on stderr.
import com.marcnuri.helm.Helm;
import java.nio.file.Path;

public class HelmTemplate {
  public static void main(String[] args) {
    if (args.length < 5 || (args.length - 2) % 3 != 0) {
      System.err.println("usage: HelmTemplate <chartDir> <kubeVersion> (<release> <namespace> <valuesFile>)+");
      System.exit(2);
    }
    Path chart = Path.of(args[0]);
    String kubeVersion = args[1];
    StringBuilder out = new StringBuilder();
    for (int i = 2; i < args.length; i += 3) {
      String release = args[i];
      String namespace = args[i + 1];
      Path values = Path.of(args[i + 2]);
      try {
        String manifests = new Helm(chart).template()
            .withName(release)
            .withNamespace(namespace)
            .withKubeVersion(kubeVersion)
            .withValuesFile(values)
            .call();
        out.append("#### release ").append(release).append(' ').append(namespace).append('\n');
        out.append(manifests).append('\n');
      } catch (RuntimeException e) {
        System.err.println("helm template " + release + " -n " + namespace + ": " + e.getMessage());
        System.exit(1);
      }
    }
    System.out.print(out);
    System.out.flush();
  }
}
