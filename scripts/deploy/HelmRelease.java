// Installs and uninstalls a local chart with Helm's own Go library
// (helm-java, the jars scripts/helm/helm.sh fetches), for the deploy tests:
// there is no helm binary here, and `helm install` is what a platform team runs.
//
//   java -cp 'libs/*:classes' HelmRelease install <chartDir> <release> <namespace> <valuesFile> <kubeconfig>
//   java -cp 'libs/*:classes' HelmRelease uninstall <release> <namespace> <kubeconfig>
//   java -cp 'libs/*:classes' HelmRelease dry-run <chartDir> <release> <namespace> <valuesFile> <kubeVersion>
//
// install prints one line `status <status> revision <n>` and then the rendered
// manifest Helm applied (Release.getOutput has the notes only, so the test reads the
// objects back from the API server instead). Any Helm error exits 1 with the message on stderr.
import com.marcnuri.helm.Helm;
import com.marcnuri.helm.Release;
import java.nio.file.Path;

public class HelmRelease {
  public static void main(String[] args) {
    try {
      if (args.length == 6 && args[0].equals("install")) {
        Release release = new Helm(Path.of(args[1])).install()
            .withName(args[2])
            .withNamespace(args[3])
            .createNamespace()
            .withValuesFile(Path.of(args[4]))
            .withKubeConfig(Path.of(args[5]))
            .withTimeout(120)
            .call();
        System.out.println("status " + release.getStatus() + " revision " + release.getRevision());
      } else if (args.length == 6 && args[0].equals("dry-run")) {
        // `helm install --dry-run` client-only: unlike `helm template` through helm-java,
        // its output carries the hooks (the migration Job) as well as the manifest.
        Release release = new Helm(Path.of(args[1])).install()
            .withName(args[2])
            .withNamespace(args[3])
            .withValuesFile(Path.of(args[4]))
            .withKubeVersion(args[5])
            .dryRun()
            .clientOnly()
            .debug()
            .call();
        System.out.print(release.getOutput());
      } else if (args.length == 4 && args[0].equals("uninstall")) {
        String out = Helm.uninstall(args[1]).withNamespace(args[2]).withKubeConfig(Path.of(args[3])).ignoreNotFound().call();
        System.out.println(out.trim());
      } else {
        System.err.println("usage: HelmRelease install <chartDir> <release> <namespace> <valuesFile> <kubeconfig> | dry-run <chartDir> <release> <namespace> <valuesFile> <kubeVersion> | uninstall <release> <namespace> <kubeconfig>");
        System.exit(2);
      }
    } catch (RuntimeException e) {
      System.err.println("helm " + args[0] + ": " + e.getMessage());
      System.exit(1);
    }
    System.out.flush();
  }
}
